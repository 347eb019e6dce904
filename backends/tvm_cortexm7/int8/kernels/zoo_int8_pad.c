/* zoo int8 PAD / PADV2: copy a tensor of rank <= 4 into a larger one filled with `value` (the
 * output zero point, or PADV2's constant). */
#include "zoo_int8.h"

void zoo_pad_s8(const int8_t *in, int8_t *out, const int32_t in_dims[4], const int32_t before[4],
                const int32_t out_dims[4], int8_t value)
{
    const int32_t row = in_dims[3];
    int32_t a, b, c;
    memset(out, value, (size_t)out_dims[0] * out_dims[1] * out_dims[2] * out_dims[3]);
    for (a = 0; a < in_dims[0]; ++a) {
        for (b = 0; b < in_dims[1]; ++b) {
            for (c = 0; c < in_dims[2]; ++c) {
                const int32_t o = (((a + before[0]) * out_dims[1] + b + before[1]) * out_dims[2] + c +
                                   before[2]) * out_dims[3] + before[3];
                memcpy(out + o, in + ((a * in_dims[1] + b) * in_dims[2] + c) * row, (size_t)row);
            }
        }
    }
}
