/* zoo int8 ADD of two same-shape tensors with their own scales and zero points (TFLM
 * reference_integer_ops::Add: both inputs shifted left by 20, rescaled to twice the larger input
 * scale, summed, requantized to the output), fused activation as the clamp. In place is allowed
 * (out == a or out == b): each element is read before it is written. With `lut` (ZOO_ADD_LUT_BYTES,
 * 4-aligned) the two input terms are tabulated first; the integers are the same. */
#include "zoo_int8.h"

/* One input's rescaled term, (v - zp) << left_shift times its multiplier. */
static inline int32_t add_term(int32_t v, int32_t zp, int32_t left_shift, int32_t mult, int32_t shift)
{
    return zoo_mbqm((int32_t)((uint32_t)(v - zp) << left_shift), mult, shift);
}

void zoo_add_s8(const zoo_binary_t *p, const int8_t *a, const int8_t *b, int8_t *out, int32_t n,
                int32_t *lut)
{
    int32_t i;
    if (lut != 0) { /* each input's term depends on its int8 value only: tabulate the 256 of each */
        int32_t *l1 = lut + 128, *l2 = lut + 384;
        for (i = -128; i < 128; ++i) {
            l1[i] = add_term(i, p->in1_zp, p->left_shift, p->in1_mult, p->in1_shift);
            l2[i] = add_term(i, p->in2_zp, p->left_shift, p->in2_mult, p->in2_shift);
        }
        for (i = 0; i < n; ++i) {
            const int32_t sum = l1[a[i]] + l2[b[i]];
            out[i] = zoo_clamp8(zoo_mbqm(sum, p->out_mult, p->out_shift) + p->out_zp, p->act_min, p->act_max);
        }
        return;
    }
    for (i = 0; i < n; ++i) {
        const int32_t sum = add_term(a[i], p->in1_zp, p->left_shift, p->in1_mult, p->in1_shift) +
                            add_term(b[i], p->in2_zp, p->left_shift, p->in2_mult, p->in2_shift);
        out[i] = zoo_clamp8(zoo_mbqm(sum, p->out_mult, p->out_shift) + p->out_zp, p->act_min, p->act_max);
    }
}
