/* zoo int8 CONCATENATION of inputs that share the output's quantization (TFLM requires it): per
 * outer index, each input's `inner[i]` bytes in turn. */
#include "zoo_int8.h"

void zoo_concat_s8(const int8_t *const *in, const int32_t *inner, int32_t n, int32_t outer,
                   int8_t *out)
{
    int32_t o, i;
    for (o = 0; o < outer; ++o) {
        for (i = 0; i < n; ++i) {
            memcpy(out, in[i] + (size_t)o * inner[i], (size_t)inner[i]);
            out += inner[i];
        }
    }
}
