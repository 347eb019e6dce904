/* zoo int8 MUL of two same-shape tensors (TFLM reference_integer_ops::Mul: the product of the
 * zero-point-corrected inputs requantized to the output), fused activation as the clamp. */
#include "zoo_int8.h"

void zoo_mul_s8(const zoo_binary_t *p, const int8_t *a, const int8_t *b, int8_t *out, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t prod = (a[i] - p->in1_zp) * (b[i] - p->in2_zp);
        out[i] = zoo_clamp8(zoo_mbqm(prod, p->out_mult, p->out_shift) + p->out_zp, p->act_min, p->act_max);
    }
}
