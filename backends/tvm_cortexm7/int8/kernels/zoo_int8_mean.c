/* zoo int8 MEAN over H and W (TFLM reference_ops::QuantizedMeanOrSum: the 1/count factor is
 * folded into the multiplier at compile time). */
#include "zoo_int8.h"

/* Cold (one call per inference, over one small tensor): size before speed, whatever the build's -O. */
#pragma GCC optimize("Os")

/* Every channel, one at a time. */
static void mean_channels(const int8_t *in, int8_t *out, int32_t hw, int32_t c, int32_t in_zp, int32_t out_zp,
                          int32_t mult, int32_t shift)
{
    int32_t ch, i;
    for (ch = 0; ch < c; ++ch) {
        const int8_t *src = in + ch;
        int32_t sum = 0;
        for (i = 0; i < hw; ++i, src += c) sum += *src;
        out[ch] = zoo_clamp8(zoo_mbqm(sum - in_zp * hw, mult, shift) + out_zp, -128, 127);
    }
}

/* hw <= 255 and c % 4 == 0: with the DSP 16-bit lane sums cannot overflow, 4 channels per word. */
void zoo_mean_hw_s8_c4(const int8_t *in, int8_t *out, int32_t hw, int32_t c, int32_t in_zp,
                       int32_t out_zp, int32_t mult, int32_t shift)
{
#if ZOO_DSP
    int32_t ch, i, j;
    for (ch = 0; ch < c; ch += 4) {
        const int8_t *src = in + ch;
        int32_t even = 0, odd = 0, sums[4];
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
#else
    mean_channels(in, out, hw, c, in_zp, out_zp, mult, shift);
#endif
}

void zoo_mean_hw_s8(const int8_t *in, int8_t *out, int32_t hw, int32_t c, int32_t in_zp,
                    int32_t out_zp, int32_t mult, int32_t shift)
{
    mean_channels(in, out, hw, c, in_zp, out_zp, mult, shift);
}
