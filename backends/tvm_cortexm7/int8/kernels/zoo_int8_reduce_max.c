/* zoo int8 REDUCE_MAX over any axes of a rank <= 4 tensor (dims padded to 4 on the left); input
 * and output share their quantization (TFLM requires it). */
#include "zoo_int8.h"

void zoo_reduce_max_s8(const int8_t *in, int8_t *out, const int32_t dims[4], const int32_t reduce[4])
{
    int32_t od[4], i, a, b, c, d;
    for (i = 0; i < 4; ++i) od[i] = reduce[i] ? 1 : dims[i];
    memset(out, 0x80, (size_t)od[0] * od[1] * od[2] * od[3]);
    for (a = 0; a < dims[0]; ++a) {
        for (b = 0; b < dims[1]; ++b) {
            for (c = 0; c < dims[2]; ++c) {
                for (d = 0; d < dims[3]; ++d) {
                    const int32_t o = (((reduce[0] ? 0 : a) * od[1] + (reduce[1] ? 0 : b)) * od[2] +
                                       (reduce[2] ? 0 : c)) * od[3] + (reduce[3] ? 0 : d);
                    const int8_t v = *in++;
                    if (v > out[o]) out[o] = v;
                }
            }
        }
    }
}
