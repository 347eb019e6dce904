/* zoo int8 MEAN over H and W (TFLM reference_ops::QuantizedMeanOrSum: the 1/count factor is
 * folded into the multiplier at compile time). */
#include "zoo_int8.h"

/* Cold (one call per inference, over one small tensor): size before speed, whatever the build's -O. */
#pragma GCC optimize("Os")

void zoo_mean_hw_s8(const int8_t *in, int8_t *out, int32_t hw, int32_t c, int32_t in_zp,
                    int32_t out_zp, int32_t mult, int32_t shift)
{
    int32_t ch = 0, i;
#if ZOO_DSP
    if (hw <= 255 && (c & 3) == 0) { /* 16-bit lane sums cannot overflow: 4 channels per word */
        for (; ch < c; ch += 4) {
            const int8_t *src = in + ch;
            int32_t even = 0, odd = 0, sums[4], j;
            for (i = 0; i < hw; ++i, src += c) {
                const uint32_t x = (uint32_t)zoo_read32(src);
                even = __sadd16(even, (int32_t)__sxtb16(x));
                odd = __sadd16(odd, zoo_sxtb16_ror8(x));
            }
            sums[0] = (int16_t)even;
            sums[1] = (int16_t)odd;
            sums[2] = even >> 16;
            sums[3] = odd >> 16;
            for (j = 0; j < 4; ++j) {
                out[ch + j] = zoo_clamp8(zoo_mbqm(sums[j] - in_zp * hw, mult, shift) + out_zp, -128, 127);
            }
        }
    }
#endif
    for (; ch < c; ++ch) {
        const int8_t *src = in + ch;
        int32_t sum = 0;
        for (i = 0; i < hw; ++i, src += c) sum += *src;
        out[ch] = zoo_clamp8(zoo_mbqm(sum - in_zp * hw, mult, shift) + out_zp, -128, 127);
    }
}
