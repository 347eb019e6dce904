/* zoo int8 kernels: QUANTIZE, MEAN, FULLY_CONNECTED, SOFTMAX, DEQUANTIZE. */
#include "zoo_int8.h"

/* SOFTMAX and DEQUANTIZE must round every float operation separately, as LiteRT does:
 * no fused multiply-add, whatever the C dialect's default contraction. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif

/* uint8 -> int8 with equal scales and zero points 128 apart: flip the sign bit (the generator
 * calls this instead of zoo_requantize_u8 where it applies) */
void zoo_flip_u8(const uint8_t *in, int8_t *out, int32_t n)
{
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32_t v = (uint32_t)zoo_read32(in + i) ^ 0x80808080u;
        memcpy(out + i, &v, 4);
    }
    for (; i < n; ++i) out[i] = (int8_t)(in[i] ^ 0x80u);
}

void zoo_requantize_u8(const uint8_t *in, int8_t *out, int32_t n, int32_t in_zp, int32_t out_zp,
                       int32_t mult, int32_t shift)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = zoo_clamp8(zoo_mbqm((int32_t)in[i] - in_zp, mult, shift) + out_zp, -128, 127);
    }
}

void zoo_requantize_s8(const int8_t *in, int8_t *out, int32_t n, int32_t in_zp, int32_t out_zp,
                       int32_t mult, int32_t shift)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = zoo_clamp8(zoo_mbqm((int32_t)in[i] - in_zp, mult, shift) + out_zp, -128, 127);
    }
}

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

void zoo_fc_s8(const int8_t *in, const int8_t *w, const int32_t *bias, int8_t *out,
               int32_t n_in, int32_t n_out, int32_t out_zp, const int32_t *mult,
               const int32_t *shift, int32_t per_channel, int32_t act_min, int32_t act_max)
{
    int32_t o, i;
    for (o = 0; o < n_out; ++o, w += n_in) {
        int32_t acc = bias[o];
        i = 0;
#if ZOO_DSP
        for (; i + 4 <= n_in; i += 4) {
            const uint32_t x = (uint32_t)zoo_read32(in + i), k = (uint32_t)zoo_read32(w + i);
            acc = __smlad((int32_t)__sxtb16(x), (int32_t)__sxtb16(k), acc);
            acc = __smlad(zoo_sxtb16_ror8(x), zoo_sxtb16_ror8(k), acc);
        }
#endif
        for (; i < n_in; ++i) acc += in[i] * w[i];
        {
            const int32_t q = per_channel ? o : 0;
            out[o] = zoo_clamp8(zoo_mbqm_up(acc, mult[q], shift[q]) + out_zp, act_min, act_max);
        }
    }
}

/* round half away from zero of a non-negative float, without libm */
static int32_t round_pos(float v)
{
    const int32_t t = (int32_t)v;
    return t + (v - (float)t >= 0.5f);
}

void zoo_softmax_s8(const int8_t *in, int8_t *out, int32_t rows, int32_t depth,
                    const float *table, float out_scale, int32_t out_zp)
{
    int32_t r, j;
    for (r = 0; r < rows; ++r, in += depth, out += depth) {
        int32_t mx = -128;
        float sum = 0.0f, inv;
        const float *t;
        for (j = 0; j < depth; ++j) mx = in[j] > mx ? in[j] : mx;
        t = table + 255 - mx;
        for (j = 0; j < depth; ++j) sum += t[in[j]];
        inv = 1.0f / (sum * out_scale);
        for (j = 0; j < depth; ++j) {
            const float prob = t[in[j]] * inv;
            out[j] = zoo_clamp8(round_pos(prob) + out_zp, -128, 127);
        }
    }
}

void zoo_dequantize_s8(const int8_t *in, float *out, int32_t n, float scale, int32_t zp)
{
    int32_t i;
    for (i = 0; i < n; ++i) out[i] = scale * (float)((int32_t)in[i] - zp);
}
