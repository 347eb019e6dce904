/* zoo int8 QUANTIZE float32 -> int8: round(x / scale) + zp, the division in float32 and the
 * rounding half away from zero (TfLiteRound), as TFLM's reference_ops::AffineQuantize. */
#include "zoo_int8.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif

void zoo_quantize_f32(const float *in, int8_t *out, int32_t n, float scale, int32_t zp)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const float q = in[i] / scale;
        float r;
        int32_t v;
        if (!(q == q)) { /* NaN: TFLM's cast is undefined; give the zero point */
            out[i] = (int8_t)zp;
            continue;
        }
        if (q > 1.0e6f || q < -1.0e6f) {
            out[i] = q > 0 ? 127 : -128;
            continue;
        }
        r = q < 0 ? -q : q;
        v = (int32_t)r;
        v += (r - (float)v) >= 0.5f; /* std::round: half away from zero */
        v = (q < 0 ? -v : v) + zp;
        out[i] = zoo_clamp8(v, -128, 127);
    }
}
