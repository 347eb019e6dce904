/* zoo int8 kernels: integer-only TFLite-compatible layers for Cortex-M (C99).
 *
 * Integer arithmetic is TensorFlow Lite Micro's (reference kernels and CMSIS-NN alike:
 * MultiplyByQuantizedMultiplier with double rounding, the gemmlowp fixed-point SOFTMAX,
 * rounded averages), so outputs are bit-exact with TFLM. With __ARM_FEATURE_DSP the inner loops use
 * the ACLE SIMD intrinsics (__smlad, __sxtb16); otherwise portable C computes the
 * same integers from the same data layouts.
 */
#ifndef ZOO_INT8_H
#define ZOO_INT8_H

#include <stdint.h>
#include <string.h>

/* Feature tiers, chosen by the compiler's feature macros as in CMSIS-NN: portable C (ARMv6-M
 * Cortex-M0, the host build), the DSP extension (M4, M7, M33), and Helium (M55: FULLY_CONNECTED
 * has an MVE path; the other kernels use the DSP path there). */
#if defined(__ARM_FEATURE_DSP) && !defined(ZOO_INT8_PORTABLE)
#include <arm_acle.h>
#define ZOO_DSP 1
#else
#define ZOO_DSP 0
#endif
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && !defined(ZOO_INT8_PORTABLE)
#define ZOO_MVE 1
#else
#define ZOO_MVE 0
#endif

#if ZOO_MVE
#include <arm_mve.h>
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
    /* int8 weights as the model has them, re-laid out (never widened):
     * regular conv: out channels in pairs; per pair, per group of 4 taps (ky,kx,c order,
     * zero-padded to a multiple of 4): 4 bytes of channel 2p, 4 of 2p+1.
     * depthwise (generic path): [k_h][k_w][out_c].
     * ZOO_CONV_PACKED: the zoo_conv2d_s8_fast / zoo_dwconv_s8_3x3 stream (int32 words: bias,
     * int8 weights, multipliers and shifts interleaved per channel pair / group of 4, see the
     * kernel sources); bias, mult, shift and rq are then NULL.
     * ZOO_CONV_C1: NULL (rq holds the zoo_conv2d_s8_c1 records). */
    const int8_t *weights;
    /* depthwise with depth_mult 1 and in_c % 4 == 0 (but zoo_dwconv_s8_rows: NULL): in_c bytes of the input
     * zero point (what padding taps read); zoo_conv2d_s8_mve under ZOO_CONV_CONST: per output channel the constant
     * output of an all-zero channel; else NULL */
    const int8_t *pad;
    /* bias - in_zp * sum(weights), padded to an even channel count */
    const int32_t *bias;
    const int32_t *mult;
    const int32_t *shift;
    /* optional single-step requantization per channel, output zero point included
     * {mult, 2^(e-2) + zp*2^(e-1), e - 1} (zoo_rq_fast), or NULL.
     * ZOO_CONV_C1: the zoo_conv2d_s8_c1 per-channel records instead (see zoo_int8_conv.c).
     * zoo_conv2d_s8_mve(_rq) under ZOO_CONV_RSHIFT: {bias, mult} per channel, under ZOO_CONV_CONST after
     * the header of the runs of live channels (see zoo_int8_conv_mve.c) */
    const int32_t *rq;
    /* zoo_conv2d_s8_1x1 / _3x3: e - 1 per output channel (e = -shift); zoo_conv2d_s8_mve with records
     * in rq and zoo_dwconv_s8_mve(_fast): TFLM's shift per output channel (the depthwise kernel's
     * channel order; 0 for a pruned channel under ZOO_CONV_CONST); else NULL */
    const int8_t *shift8;
} zoo_conv_t;

#define ZOO_CONV_FULL8 2u    /* act_min == -128 and act_max == 127 */
#define ZOO_CONV_PACKED 8u   /* weights hold the kernel's stream: bias, weights, requantization */
#define ZOO_CONV_C1 4u       /* zoo_conv2d_s8_c1 layout: rq holds 5 words per channel */
#define ZOO_CONV_RSHIFT 128u /* Helium kernels: every shift <= 0 (no left shift to apply) */
#define ZOO_CONV_CONST 16u   /* zoo_conv2d_s8_mve: all-zero channels are constants (see zoo_int8_conv_mve.c) */

/* Any layer. `scratch`: two int16 im2col columns, 16 * ceil(k_h * k_w * in_c / 4) bytes. */
void zoo_conv2d_s8(const zoo_conv_t *p, const int8_t *in, int8_t *out, int16_t *scratch);
/* Specialised: single-step requantization into the full int8 range, an even out_c, the
 * ZOO_CONV_PACKED stream in weights (see zoo_int8_conv.c). */
void zoo_conv2d_s8_fast(const zoo_conv_t *p, const int8_t *in, int8_t *out, int16_t *scratch);
/* Specialised: 1x1 kernel, no padding, in_c % 4 == 0, full int8 range, ZOO_CONV_PACKED stream
 * in weights and shift8 (see zoo_int8_conv_1x1.c); scratch ZOO_CONV1X1_SCRATCH_BYTES(in_c). */
void zoo_conv2d_s8_1x1(const zoo_conv_t *p, const int8_t *in, int8_t *out, int16_t *scratch);
#define ZOO_CONV1X1_SCRATCH_BYTES(in_c) (8 * (in_c))
/* Specialised: 3x3 kernel, stride 1, in_c % 4 == 0, full int8 range, ZOO_CONV_PACKED stream in
 * weights and shift8 (see zoo_int8_conv_3x3.c); scratch ZOO_CONV3X3_SCRATCH_BYTES(in_c). */
void zoo_conv2d_s8_3x3(const zoo_conv_t *p, const int8_t *in, int8_t *out, int16_t *scratch);
#define ZOO_CONV3X3_SCRATCH_BYTES(in_c) (36 * (in_c))
/* Specialised: in_c == 1, k_h * k_w <= 9, ZOO_CONV_C1 (rq holds the per-channel records). */
void zoo_conv2d_s8_c1(const zoo_conv_t *p, const int8_t *in, int8_t *out, int16_t *scratch);
/* Helium kernels (zoo_int8_conv_mve.c, zoo_int8_dwconv_mve.c; portable C without MVE): the
 * layout_mve layouts (the model's own int8 weights: OHWI / HWO), folded bias, TFLM's mult and shift.
 * Regular conv: any layer, `scratch` ZOO_CONV2D_SCRATCH_BYTES(k) (4 int8 columns). Depthwise:
 * depth multiplier 1, `pad` set (in_c bytes of the input zero point). */
void zoo_conv2d_s8_mve(const zoo_conv_t *p, const int8_t *in, int8_t *out, int8_t *scratch);
/* Specialised: ZOO_CONV_RSHIFT with per-channel records in rq, no ZOO_CONV_CONST: the records path only (a
 * model whose convolutions all qualify does not link the left-shift and constant-channel paths); any
 * other layer traps. */
void zoo_conv2d_s8_mve_rq(const zoo_conv_t *p, const int8_t *in, int8_t *out, int8_t *scratch);
void zoo_dwconv_s8_mve(const zoo_conv_t *p, const int8_t *in, int8_t *out);
/* Specialised: ZOO_CONV_RSHIFT, in_c % 8 == 0, k_h * k_w <= 9: the asm path only (a model whose depthwise
 * layers all qualify does not link the general paths); any other layer traps. */
void zoo_dwconv_s8_mve_fast(const zoo_conv_t *p, const int8_t *in, int8_t *out);
/* The same for 8 channels at column stride 1: two inside pixels an asm block. */
void zoo_dwconv_s8_mve_fast8(const zoo_conv_t *p, const int8_t *in, int8_t *out);
/* Any depthwise layer. */
void zoo_dwconv_s8(const zoo_conv_t *p, const int8_t *in, int8_t *out);
/* Specialised: depth multiplier 1, channels % 4 == 0, pad and rq set, full int8 activation range. */
void zoo_dwconv_s8_fast(const zoo_conv_t *p, const int8_t *in, int8_t *out);
/* Specialised: 3x3, depth multiplier 1, channels % 4 == 0, ZOO_CONV_PACKED stream in weights
 * (see zoo_int8_dwconv.c), full int8 activation range. */
void zoo_dwconv_s8_3x3(const zoo_conv_t *p, const int8_t *in, int8_t *out);
/* 3x3 depthwise (depth multiplier 1, in_c % 4 == 0) or one-input-channel convolution, column stride 1 or
 * 2, any row stride, pad top <= 1, full int8 range: one output row of one output channel at a time against
 * a row buffer (see zoo_int8_dwconv_rows.c); the stream's first word is the chunk of channels the scratch
 * holds; `out` may be `in` (in one pass, see operators/conv2d.py rows_in_place). Stack: 36 + 8 ceil(out_w / 2)
 * bytes in its asm (each block's accumulators), beside the driver's frame. */
void zoo_dwconv_s8_rows(const zoo_conv_t *p, const int8_t *in, int8_t *out, int16_t *scratch);
#define ZOO_DWROWS_SCRATCH_BYTES(out_w, stride, chunk) (12 * (chunk) * (((out_w) + 1) / 2 * (stride) + 1))

/* Limits of the kernels: the single source (the Python generator reads these lines). */
#define ZOO_MAX_TAPS 64        /* regular conv (channels % 4 != 0) and depthwise: k_h * k_w (* in_c) */
#define ZOO_MAX_DIMS 4         /* PAD, CONCATENATION, REDUCE_MAX: tensor rank */
#define ZOO_MAX_POOL_WINDOW 65535 /* AVERAGE_POOL_2D: k_h * k_w (the divisor) */

/* Scratch bytes of zoo_conv2d_s8* for a kernel of k = k_h * k_w * in_c taps (two int16 columns,
 * groups of 4 taps); the other kernels need none. */
#define ZOO_CONV2D_SCRATCH_BYTES(k) (16 * (((k) + 3) / 4))

/* QUANTIZE uint8/int8 -> int8 */
void zoo_requantize_u8(const uint8_t *in, int8_t *out, int32_t n, int32_t in_zp, int32_t out_zp,
                       int32_t mult, int32_t shift);
/* QUANTIZE uint8 -> int8 with equal scales, in_zp - out_zp == 128 */
void zoo_flip_u8(const uint8_t *in, int8_t *out, int32_t n);
void zoo_requantize_s8(const int8_t *in, int8_t *out, int32_t n, int32_t in_zp, int32_t out_zp,
                       int32_t mult, int32_t shift);
/* QUANTIZE float32 -> int8: round(x / scale) + zp, half away from zero (TFLM AffineQuantize) */
void zoo_quantize_f32(const float *in, int8_t *out, int32_t n, float scale, int32_t zp);
/* MEAN over H, W: out[c] = MBQM(sum - in_zp*h*w) + out_zp */
void zoo_mean_hw_s8(const int8_t *in, int8_t *out, int32_t hw, int32_t c, int32_t in_zp,
                    int32_t out_zp, int32_t mult, int32_t shift);
/* The same for hw <= 255 and c % 4 == 0 (4 channels a word on the DSP) */
void zoo_mean_hw_s8_c4(const int8_t *in, int8_t *out, int32_t hw, int32_t c, int32_t in_zp,
                       int32_t out_zp, int32_t mult, int32_t shift);
/* FULLY_CONNECTED over `rows` input rows of n_in. */
typedef struct {
    int32_t rows, n_in, n_out, out_zp, per_channel, act_min, act_max;
    const int8_t *weights;  /* layout.fc_weights: blocks of 4 rows when n_in % 4 == 0 (zoo_int8_fc.c) */
    const int32_t *bias;    /* bias - in_zp * sum(w) per output channel */
    const int32_t *mult;    /* per output channel when per_channel, else one value */
    const int32_t *shift;
    const int32_t *rq;      /* single-step requantization {m, hi, e - 1} (zoo_rq_fast), or NULL */
    const int32_t *rqx;     /* per-tensor, full int8 range: TFLM's exact single step {m, c_lo, c_hi, e - 1}
                             * (zoo_rq_exact), or NULL; when set, rq, mult and shift are not read */
} zoo_fc_t;
/* `scratch`: ZOO_FC_SCRATCH_BYTES(n_in, n_out) bytes, 4-aligned (NULL when that is 0). */
void zoo_fc_s8(const zoo_fc_t *p, const int8_t *in, int8_t *out, int16_t *scratch);
/* Specialised: rqx set, n_in % 16 == 0, n_out % 4 == 0 (any other layer: zoo_fc_s8). */
void zoo_fc_s8_exact(const zoo_fc_t *p, const int8_t *in, int8_t *out, int16_t *scratch);
#define ZOO_FC_SCRATCH_BYTES(n_in, n_out) ((n_in) % 4 == 0 && (n_out) >= 4 ? 2 * (n_in) : 0)
/* SOFTMAX int8 -> int8 (scale 1/256, zp -128), TFLM's integer reference: exp in Q5.26 fixed
 * point from input_multiplier / input_left_shift, differences below diff_min give 0 */
void zoo_softmax_s8(const int8_t *in, int8_t *out, int32_t rows, int32_t depth, int32_t mult,
                    int32_t left_shift, int32_t diff_min);
/* DEQUANTIZE int8 -> float32 */
void zoo_dequantize_s8(const int8_t *in, float *out, int32_t n, float scale, int32_t zp);

/* AVERAGE_POOL_2D / MAX_POOL_2D, NHWC int8, input and output share their quantization. */
typedef struct {
    uint16_t in_h, in_w, c, out_h, out_w;
    uint16_t k_h, k_w, stride_h, stride_w, pad_top, pad_left;
    int8_t act_min, act_max;
} zoo_pool_t;
void zoo_avgpool_s8(const zoo_pool_t *p, const int8_t *in, int8_t *out);
void zoo_maxpool_s8(const zoo_pool_t *p, const int8_t *in, int8_t *out);

/* ADD / MUL of two int8 tensors of n elements each (same shape), TFLM's integer arithmetic. */
typedef struct {
    int32_t in1_zp, in2_zp, out_zp, left_shift;
    int32_t in1_mult, in1_shift, in2_mult, in2_shift, out_mult, out_shift;
    int32_t act_min, act_max;
} zoo_binary_t;
/* `lut`: NULL, or ZOO_ADD_LUT_BYTES of scratch for the tabulated input terms (worth it from ~1,000 elements). */
void zoo_add_s8(const zoo_binary_t *p, const int8_t *a, const int8_t *b, int8_t *out, int32_t n,
                int32_t *lut);
#define ZOO_ADD_LUT_BYTES 2048
void zoo_mul_s8(const zoo_binary_t *p, const int8_t *a, const int8_t *b, int8_t *out, int32_t n);

/* RELU (requantized into [act_min, act_max]) */
void zoo_relu_s8(const int8_t *in, int8_t *out, int32_t n, int32_t in_zp, int32_t out_zp,
                 int32_t mult, int32_t shift, int32_t act_min, int32_t act_max);
/* RELU6 (TFLM: clamp the raw values to [lo, hi], the input's quantization kept) and any clamp */
void zoo_clamp_s8(const int8_t *in, int8_t *out, int32_t n, int32_t lo, int32_t hi);

/* LOGISTIC / TANH: out[i] = table[in[i] + 128] (table of 256 int8 values) */
void zoo_lut_s8(const int8_t *in, int8_t *out, int32_t n, const int8_t *table);

/* PAD: an int8 tensor of rank <= ZOO_MAX_DIMS (shapes padded to 4 on the left) */
void zoo_pad_s8(const int8_t *in, int8_t *out, const int32_t in_dims[4], const int32_t before[4],
                const int32_t out_dims[4], int8_t value);
/* CONCATENATION: `n` inputs, outer x (inner[i]) bytes each, equal quantization */
void zoo_concat_s8(const int8_t *const *in, const int32_t *inner, int32_t n, int32_t outer,
                   int8_t *out);
/* REDUCE_MAX over the axes whose flag is set (dims padded to 4 on the left) */
void zoo_reduce_max_s8(const int8_t *in, int8_t *out, const int32_t dims[4], const int32_t reduce[4]);

/* gemmlowp SaturatingRoundingDoublingHighMul */
static inline int32_t zoo_srdhm(int32_t a, int32_t b)
{
    if (a == b && a == INT32_MIN) return INT32_MAX;
    return (int32_t)(((int64_t)a * b + ((int64_t)1 << 30)) >> 31);
}

/* gemmlowp RoundingDivideByPOT: round half away from zero (0 <= e <= 31) */
static inline int32_t zoo_rdbpot(int32_t x, int32_t e)
{
    const int32_t mask = (int32_t)((1u << e) - 1u);
    const int32_t rem = x & mask;
    const int32_t thr = (mask >> 1) + (x < 0);
    return (x >> e) + (rem > thr);
}

/* TFLite MultiplyByQuantizedMultiplier (double rounding, TFLM's and CMSIS-NN's default):
 * tensorflow/lite/kernels/internal/common.cc at tflite-micro 90b983c2. m > 0 or m == 0.
 * ZOO_ROUND_HALF_UP (tests only) rounds the final shift half up, as LiteRT's ruy GEMM does. */
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
#ifdef ZOO_ROUND_HALF_UP
        r = (r >> -shift) + ((r >> (-shift - 1)) & 1);
#else
        r = zoo_rdbpot(r, -shift);
#endif
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
 *   floor((x*m + 2^30 + 2^(30+e) + zp*2^(31+e)) / 2^(31+e))
 * (nested floors: the final shift rounds half up); equal to zoo_mbqm + zp except on negative
 * ties, so the generator only uses it where the activation floor (act_min >= zp) hides them. q = {m, 2^(e-2) + zp*2^(e-1), e - 1}. */
static inline int32_t zoo_rq_fast(int32_t x, const int32_t *q)
{
    const int64_t v = (int64_t)x * q[0] + (int64_t)(((uint64_t)(uint32_t)q[1] << 32) | (1u << 30));
    return (int32_t)(v >> 32) >> q[2];
}

/* The single-step requantization of the packed streams, as SMMLAR computes it:
 * ((c << 32) + 2x * m + 2^31) >> 32 (mod 2^64), then >> e, with c = (2 zp + 1) << (e - 1): the
 * same nested floors as zoo_rq_fast with hi = c / 2 (the generator checks |2x| < 2^31). */
static inline int32_t zoo_rq_mm(int32_t x, int32_t m, int32_t c, int32_t e)
{
    const uint64_t v = ((uint64_t)(uint32_t)c << 32) + (uint64_t)((int64_t)x * 2 * m) + (1u << 31);
    return (int32_t)(uint32_t)(v >> 32) >> e;
}

/* zoo_rq_mm on accumulator register A in the DSP asm loops, saturated to int8: r0 = m, r1 = e,
 * r2 = c (the 1x1 and 3x3 kernels). */
#define ZOO_MM_RQ_ASM(A)                                                   \
    "lsl " A ", " A ", #1\n\t"                                            \
    "smmlar " A ", " A ", r0, r2\n\t"                                     \
    "asr " A ", " A ", r1\n\t"                                            \
    "ssat " A ", #8, " A "\n\t"

/* A block kernel's four requantized pixels (r6, r8, r9, r10) stored: pixel 0 at [r7], r7 then one channel on;
 * pixels 1..3 at r7 + d1, d2, d3, read from the block's state at [r12 + D1] (d1, d2) and [r12 + D3].
 * Clobbers r4, r5, lr (zoo_int8_conv_1x1.c, zoo_int8_conv_3x3.c). */
#define ZOO_STORE4_ASM(D1, D3)                                             \
    "ldrd r4, r5, [r12, #" D1 "]\n\t"                                    \
    "ldr lr, [r12, #" D3 "]\n\t"                                         \
    "strb r10, [r7, lr]\n\t"                                              \
    "strb r9, [r7, r5]\n\t"                                               \
    "strb r8, [r7, r4]\n\t"                                               \
    "strb r6, [r7], #1\n\t"

/* zoo_rq_mm's c = (2 zp + 1) << (e - 1) from zp2 = 2 zp + 1 and e1 = e - 1, shifted unsigned (a left
 * shift of a negative int is undefined in C); the generator checks that it fits an int32. */
static inline int32_t zoo_rq_mm_c(int32_t zp2, int32_t e1)
{
    return (int32_t)((uint32_t)zp2 << e1);
}

/* TFLM's MultiplyByQuantizedMultiplier (right shift e = -shift >= 1) plus the output zero point in
 * one 64-bit step, exact for every x (m > 0): with c = 2^30 + 2^(30+e) + zp * 2^(31+e),
 *   floor((x*m + c - 2^31 [x < 0]) / 2^(31+e))
 * is the SRDHM's floor((x*m + 2^30) / 2^31) then the rounding shift, half away from zero (the
 * 2^31 taken for a negative x moves a negative tie down), by the nested-floor identity.
 * q = {m, c_lo, c_hi, e - 1}. */
static inline int32_t zoo_rq_exact(int32_t x, const int32_t *q)
{
    const int64_t c = (int64_t)(((uint64_t)(uint32_t)q[2] << 32) | (uint32_t)q[1]);
#ifdef ZOO_ROUND_HALF_UP
    const int64_t v = (int64_t)x * q[0] + c; /* tests only: every tie half up, as zoo_mbqm there */
#else
    const int64_t v = (int64_t)x * q[0] + c - (x < 0 ? ((int64_t)1 << 31) : 0);
#endif
    return (int32_t)(v >> 32) >> q[3];
}

/* Requantization of one layer, held in locals by the kernels. */
typedef struct {
    const int32_t *rq, *mult, *shift;
    int32_t zp, lo, hi, full8;
} zoo_rq_t;

#define ZOO_INLINE static inline __attribute__((always_inline))
/* Set-up code around the DSP tier's asm loops (gathering taps): built for size there; the portable
 * tier runs its loops in that code, at the build's own -O. */
#if ZOO_DSP
#define ZOO_SETUP __attribute__((optimize("Os")))
#else
#define ZOO_SETUP
#endif

#if ZOO_MVE
/* zoo_mbqm + zp and the clamp on 4 lanes, one multiplier and shift: the left shift, VQRDMULH (the
 * SRDHM), then the rounding right shift half away from zero: VRSHL rounds half up, so a negative
 * value is first lowered by one (the sign of v & -e, as in CMSIS-NN's arm_requantize_mve). */
ZOO_INLINE int32x4_t zoo_requant_mve(int32x4_t acc, int32_t mult, int32_t shift, int32_t zp, int32_t lo,
                                     int32_t hi)
{
    const int32_t right = shift > 0 ? 0 : -shift;
    int32x4_t v = vqrdmulhq_n_s32(shift > 0 ? vshlq_r_s32(acc, shift) : acc, mult);
    v = vqaddq_s32(v, vshrq_n_s32(vandq_s32(v, vdupq_n_s32(-right)), 31));
    v = vaddq_n_s32(vrshlq_n_s32(v, -right), zp);
    return vminq_s32(vmaxq_s32(v, vdupq_n_s32(lo)), vdupq_n_s32(hi));
}

/* The same with a multiplier and a shift per lane. */
ZOO_INLINE int32x4_t zoo_requant_mve_v(int32x4_t acc, int32x4_t mult, int32x4_t shift, int32_t zp,
                                       int32x4_t lo, int32x4_t hi)
{
    const int32x4_t zero = vdupq_n_s32(0), neg = vminq_s32(shift, zero);
    int32x4_t v = vqrdmulhq_s32(vshlq_s32(acc, vmaxq_s32(shift, zero)), mult);
    v = vqaddq_s32(v, vshrq_n_s32(vandq_s32(v, neg), 31));
    v = vaddq_n_s32(vrshlq_s32(v, neg), zp);
    return vminq_s32(vmaxq_s32(v, lo), hi);
}
#endif

/* `fast8` (a compile-time constant at every call) selects the single-step form with a
 * full int8 activation range; otherwise the layer's own form and clamp are used. */
ZOO_INLINE int8_t zoo_requant(const zoo_rq_t *r, int32_t acc, int32_t c, int fast8)
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
    } else {
        v = zoo_mbqm(acc, r->mult[c], r->shift[c]) + r->zp;
    }
    return (int8_t)(v < r->lo ? r->lo : (v > r->hi ? r->hi : v));
}

/* Saturate to int8. */
ZOO_INLINE int8_t zoo_sat8(int32_t v)
{
#if ZOO_DSP
    return (int8_t)__ssat(v, 8);
#else
    return (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
#endif
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
