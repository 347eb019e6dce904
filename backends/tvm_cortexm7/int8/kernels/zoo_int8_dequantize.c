/* zoo int8 DEQUANTIZE int8 -> float32: scale * (x - zp), one rounding of an exact product (equal
 * to TFLM's reference_ops::Dequantize, which multiplies in double and casts). */
#include "zoo_int8.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif

void zoo_dequantize_s8(const int8_t *in, float *out, int32_t n, float scale, int32_t zp)
{
    int32_t i;
    for (i = 0; i < n; ++i) out[i] = scale * (float)((int32_t)in[i] - zp);
}
