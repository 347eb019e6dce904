/* zoo int8 kernels: integer-only TFLite-compatible layers for Cortex-M (C99).
 *
 * Requantization rounds exactly like TensorFlow Lite Micro and LiteRT's builtin
 * kernels (MultiplyByQuantizedMultiplier: rounding doubling high multiply, then
 * rounding divide by a power of two). With __ARM_FEATURE_DSP the inner loops use
 * the ACLE SIMD intrinsics (__smlad, __sxtb16); otherwise portable C computes the
 * same integers from the same data layouts.
 */
#ifndef ZOO_INT8_H
#define ZOO_INT8_H

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && !defined(ZOO_INT8_PORTABLE)
#include <arm_acle.h>
#define ZOO_DSP 1
#else
#define ZOO_DSP 0
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* CONV_2D and DEPTHWISE_CONV_2D, NHWC int8. */
typedef struct {
    uint16_t in_h, in_w, in_c, out_h, out_w, out_c;
    uint8_t k_h, k_w, stride_h, stride_w, pad_top, pad_left, depth_mult;
    uint8_t flags; /* ZOO_CONV_* */
    int8_t in_zp, out_zp, act_min, act_max;
    /* regular conv: out channels in pairs; per pair, per group of 4 taps (ky,kx,c
     * order, zero-padded to a multiple of 4): 4 bytes of channel 2p, 4 of 2p+1.
     * depthwise (generic path): [k_h][k_w][out_c].
     * ZOO_CONV_PACKED without ZOO_CONV_W16: the zoo_conv2d_s8_fast_w8 stream. */
    const int8_t *weights;
    /* depthwise fast path (depth_mult 1, in_c % 4 == 0): [c/4][tap][w0,w2,w1,w3];
     * regular conv with ZOO_CONV_W16: the pair layout as int16; else NULL.
     * ZOO_CONV_PACKED: the zoo_conv2d_s8_fast_w16 / zoo_dwconv_s8_3x3 stream (bias, weights
     * and requantization interleaved per channel pair / group, see the kernel sources); bias
     * and rq are then NULL */
    const int16_t *weights16;
    /* depthwise fast path: in_c bytes of the input zero point (what padding reads) */
    const int8_t *pad;
    /* bias - in_zp * sum(weights), padded to an even channel count */
    const int32_t *bias;
    const int32_t *mult;
    const int32_t *shift;
    /* optional single-step requantization per channel, output zero point included
     * {mult, 2^(e-2) + zp*2^(e-1), e - 1} (zoo_rq_fast), or NULL.
     * ZOO_CONV_C1: the zoo_conv2d_s8_c1 per-channel records instead (see zoo_int8_conv.c) */
    const int32_t *rq;
    /* channels [0, up_channels) round the final shift half up, the rest half away from
     * zero (LiteRT's x86 depthwise kernel: blocks of 8 channels vs the scalar tail) */
    int32_t up_channels;
} zoo_conv_t;

#define ZOO_CONV_W16 1u      /* regular conv: weights16 holds the pair layout as int16 (w0,w2,w1,w3) */
#define ZOO_CONV_FULL8 2u    /* act_min == -128 and act_max == 127 */
#define ZOO_CONV_PACKED 8u   /* zoo_conv2d_s8_fast_w16 stream: bias, weights, rq per channel pair */
#define ZOO_CONV_C1 4u       /* zoo_conv2d_s8_c1 layout: rq holds 8 words per channel */

/* Any layer. `scratch`: two int16 im2col columns, 16 * ceil(k_h * k_w * in_c / 4) bytes. */
void zoo_conv2d_s8(const zoo_conv_t *p, const int8_t *in, int8_t *out, int16_t *scratch);
/* Specialised: rq set, full int8 activation range, ZOO_CONV_W16 set / clear. _fast_w16 takes
 * the ZOO_CONV_PACKED stream in weights16 (see zoo_int8_conv.c) and an even out_c. */
void zoo_conv2d_s8_fast_w16(const zoo_conv_t *p, const int8_t *in, int8_t *out, int16_t *scratch);
void zoo_conv2d_s8_fast_w8(const zoo_conv_t *p, const int8_t *in, int8_t *out, int16_t *scratch);
/* Specialised: in_c == 1, k_h * k_w <= 9, ZOO_CONV_C1 (rq holds the per-channel records). */
void zoo_conv2d_s8_c1(const zoo_conv_t *p, const int8_t *in, int8_t *out, int16_t *scratch);
/* Any depthwise layer. */
void zoo_dwconv_s8(const zoo_conv_t *p, const int8_t *in, int8_t *out);
/* Specialised: weights16 and rq set, full int8 activation range. */
void zoo_dwconv_s8_fast(const zoo_conv_t *p, const int8_t *in, int8_t *out);
/* Specialised: 3x3, depth multiplier 1, channels % 4 == 0, ZOO_CONV_PACKED stream in weights16
 * (see zoo_int8_dwconv.c), pad set, full int8 activation range. */
void zoo_dwconv_s8_3x3(const zoo_conv_t *p, const int8_t *in, int8_t *out);

/* QUANTIZE uint8/int8 -> int8 */
void zoo_requantize_u8(const uint8_t *in, int8_t *out, int32_t n, int32_t in_zp, int32_t out_zp,
                       int32_t mult, int32_t shift);
/* QUANTIZE uint8 -> int8 with equal scales, in_zp - out_zp == 128 */
void zoo_flip_u8(const uint8_t *in, int8_t *out, int32_t n);
void zoo_requantize_s8(const int8_t *in, int8_t *out, int32_t n, int32_t in_zp, int32_t out_zp,
                       int32_t mult, int32_t shift);
/* MEAN over H, W: out[c] = MBQM(sum - in_zp*h*w) + out_zp */
void zoo_mean_hw_s8(const int8_t *in, int8_t *out, int32_t hw, int32_t c, int32_t in_zp,
                    int32_t out_zp, int32_t mult, int32_t shift);
/* FULLY_CONNECTED, weights [out][in], bias already folded with -in_zp * sum(w);
 * mult/shift per output channel when per_channel, else one value */
void zoo_fc_s8(const int8_t *in, const int8_t *w, const int32_t *bias, int8_t *out,
               int32_t n_in, int32_t n_out, int32_t out_zp, const int32_t *mult,
               const int32_t *shift, int32_t per_channel, int32_t act_min, int32_t act_max);
/* SOFTMAX int8 -> int8 with LiteRT's float exp table (table[255 + x - max]) */
void zoo_softmax_s8(const int8_t *in, int8_t *out, int32_t rows, int32_t depth,
                    const float *table, float out_scale, int32_t out_zp);
/* DEQUANTIZE int8 -> float32 */
void zoo_dequantize_s8(const int8_t *in, float *out, int32_t n, float scale, int32_t zp);

/* TFLite MultiplyByQuantizedMultiplier (double rounding), m > 0 or m == 0. */
static inline int32_t zoo_mbqm(int32_t x, int32_t m, int32_t shift)
{
    int32_t r;
    if (shift > 0) {
        x = (int32_t)((uint32_t)x << shift);
    }
    /* rounding doubling high multiply: (x*m + 2^30) >> 31 equals gemmlowp's
     * nudge-and-truncate for every product except INT32_MIN*INT32_MIN (m > 0 here) */
    r = (int32_t)(((int64_t)x * m + ((int64_t)1 << 30)) >> 31);
    if (shift < 0) {
        const int32_t e = -shift;
        const int32_t mask = (int32_t)((1u << e) - 1u);
        const int32_t rem = r & mask;
        const int32_t thr = (mask >> 1) + (r < 0);
        r = (r >> e) + (rem > thr);
    }
    return r;
}

/* The same product, but the final division by 2^-shift rounds half up, as the ruy GEMM
 * behind LiteRT's builtin CONV_2D and FULLY_CONNECTED does (differs from zoo_mbqm only
 * on exact negative ties). */
static inline int32_t zoo_mbqm_up(int32_t x, int32_t m, int32_t shift)
{
    int32_t r;
    if (shift > 0) {
        x = (int32_t)((uint32_t)x << shift);
    }
    r = (int32_t)(((int64_t)x * m + ((int64_t)1 << 30)) >> 31);
    if (shift < 0) {
        r = (r >> -shift) + ((r >> (-shift - 1)) & 1);
    }
    return r;
}

/* rotate right by 8 (GCC folds it into SXTB16's ROR #8 operand) */
static inline uint32_t zoo_ror8(uint32_t x)
{
    return (x >> 8) | (x << 24);
}

/* Single-step form of a requantization whose right shift e = -shift >= 2, output zero
 * point included:
 *   floor((x*m + 2^30 + 2^(30+e) + zp*2^(31+e)) / 2^(31+e))  =  zoo_mbqm_up(x, m, -e) + zp
 * (nested floors); equal to zoo_mbqm + zp except on negative ties, which the generator only
 * allows where the activation clamp hides them. q = {m, 2^(e-2) + zp*2^(e-1), e - 1}. */
static inline int32_t zoo_rq_fast(int32_t x, const int32_t *q)
{
    const int64_t v = (int64_t)x * q[0] + (int64_t)(((uint64_t)(uint32_t)q[1] << 32) | (1u << 30));
    return (int32_t)(v >> 32) >> q[2];
}

/* Requantization of one layer, held in locals by the kernels. */
typedef struct {
    const int32_t *rq, *mult, *shift;
    int32_t zp, lo, hi, full8;
} zoo_rq_t;

#define ZOO_INLINE static inline __attribute__((always_inline))

/* `fast8` (a compile-time constant at every call) selects the single-step form with a
 * full int8 activation range; otherwise the layer's own form and clamp are used. */
ZOO_INLINE int8_t zoo_requant(const zoo_rq_t *r, int32_t acc, int32_t c, int up, int fast8)
{
    int32_t v;
    if (fast8) {
        v = zoo_rq_fast(acc, r->rq + 3 * c);
#if ZOO_DSP
        return (int8_t)__ssat(v, 8);
#else
        return (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
#endif
    }
    if (r->rq != 0) {
        v = zoo_rq_fast(acc, r->rq + 3 * c);
    } else if (up) {
        v = zoo_mbqm_up(acc, r->mult[c], r->shift[c]) + r->zp;
    } else {
        v = zoo_mbqm(acc, r->mult[c], r->shift[c]) + r->zp;
    }
    return (int8_t)(v < r->lo ? r->lo : (v > r->hi ? r->hi : v));
}

/* SXTB16 of x rotated right by 8 (bytes 1 and 3), in one instruction */
#if ZOO_DSP
ZOO_INLINE int32_t zoo_sxtb16_ror8(uint32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
#endif

/* The requantization of a convolution layer, in locals. */
static inline void zoo_conv_rq(const zoo_conv_t *p, zoo_rq_t *r)
{
    r->rq = p->rq;
    r->mult = p->mult;
    r->shift = p->shift;
    r->zp = p->out_zp;
    r->lo = p->act_min;
    r->hi = p->act_max;
    r->full8 = (p->flags & ZOO_CONV_FULL8) != 0;
}

/* Whether the kernel window with origin (iy0, ix0) lies inside the input. */
static inline int zoo_window_inside(const zoo_conv_t *p, int32_t iy0, int32_t ix0)
{
    return iy0 >= 0 && ix0 >= 0 && iy0 + p->k_h <= p->in_h && ix0 + p->k_w <= p->in_w;
}

static inline int8_t zoo_clamp8(int32_t v, int32_t lo, int32_t hi)
{
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

static inline int32_t zoo_read32(const void *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

#ifdef __cplusplus
}
#endif
#endif /* ZOO_INT8_H */
