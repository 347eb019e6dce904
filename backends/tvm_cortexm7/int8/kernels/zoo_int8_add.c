/* zoo int8 ADD of two same-shape tensors with their own scales and zero points (TFLM
 * reference_integer_ops::Add: both inputs shifted left by 20, rescaled to twice the larger input
 * scale, summed, requantized to the output), fused activation as the clamp. In place is allowed
 * (out == a or out == b): each element is read before it is written. */
#include "zoo_int8.h"

void zoo_add_s8(const zoo_binary_t *p, const int8_t *a, const int8_t *b, int8_t *out, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t x = (int32_t)((uint32_t)(a[i] - p->in1_zp) << p->left_shift);
        const int32_t y = (int32_t)((uint32_t)(b[i] - p->in2_zp) << p->left_shift);
        const int32_t sum = zoo_mbqm(x, p->in1_mult, p->in1_shift) + zoo_mbqm(y, p->in2_mult, p->in2_shift);
        out[i] = zoo_clamp8(zoo_mbqm(sum, p->out_mult, p->out_shift) + p->out_zp, p->act_min, p->act_max);
    }
}
