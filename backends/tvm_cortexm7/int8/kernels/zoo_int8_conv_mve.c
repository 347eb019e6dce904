/* zoo int8 CONV_2D for Helium (MVE): im2col into int8 columns, 4 output pixels x 1 output channel
 * per inner loop (VMLADAVA over 16 taps at a time, the last < 16 under a VCTP tail predicate), the
 * four accumulators requantized together (zoo_requant_mve: TFLM's MultiplyByQuantizedMultiplier,
 * half away from zero) and scattered to the four pixels with one VSTRB.
 *
 * Layout (layout_mve.conv_arrays): the model's own OHWI int8 weights, [out_c][k_h * k_w * in_c], the
 * bias with the input zero point folded in, TFLM's multiplier and shift per output channel: with every
 * shift <= 0 (ZOO_CONV_RSHIFT) as records {bias, mult} per channel in `rq` and the shifts as int8 in
 * `shift8`, one per output channel (zoo_conv2d_s8_mve_rq: zoo_mve_channels4 runs the whole channel
 * loop), otherwise in bias, mult and shift.
 * ZOO_CONV_CONST (with ZOO_CONV_RSHIFT): the channels whose weights are all zero (pruned) are constants,
 * their outputs in `pad` (layout.constant_output); `weights` holds the other (live) channels' rows
 * only and `rq` = {n, {first, count} of each of the n runs of consecutive live channels, the live
 * channels' records}. Each pixel is first filled from pad, then its live channels computed.
 * `scratch`: 4 int8 columns of k = k_h * k_w * in_c bytes (ZOO_CONV2D_SCRATCH_BYTES(k) holds them);
 * a 1x1 convolution without padding reads its columns straight from the input.
 * Without MVE the same integers come from a portable loop over the same layout. */
#include "zoo_int8.h"

#if ZOO_MVE
#include <arm_mve.h>
#endif

/* n bytes from src to dst; fill: n bytes of v. */
static void copy8(int8_t *dst, const int8_t *src, int32_t n)
{
#if ZOO_MVE
    for (; n > 0; n -= 16, dst += 16, src += 16) {
        const mve_pred16_t pr = vctp8q((uint32_t)n);
        vstrbq_p_s8(dst, vldrbq_z_s8(src, pr), pr);
    }
#else
    memcpy(dst, src, (size_t)n);
#endif
}

static void fill8(int8_t *dst, int8_t v, int32_t n)
{
#if ZOO_MVE
    const int8x16_t vv = vdupq_n_s8(v);
    for (; n > 0; n -= 16, dst += 16) vstrbq_p_s8(dst, vv, vctp8q((uint32_t)n));
#else
    memset(dst, v, (size_t)n);
#endif
}

/* Column of the window with origin (iy0, ix0) that crosses the input's border: its taps in (ky, kx, c)
 * order, padding as the zero point. Returns `col`. */
__attribute__((noinline)) static const int8_t *border_column(const zoo_conv_t *p, const int8_t *in, int32_t iy0,
                                                             int32_t ix0, int8_t *col)
{
    const int32_t c = p->in_c, run = p->k_w * c;
    int32_t ky, kx;
    int8_t *dst = col;
    for (ky = 0; ky < p->k_h; ++ky, dst += run) {
        const int32_t iy = iy0 + ky;
        const int8_t *src;
        if (iy < 0 || iy >= p->in_h) {
            fill8(dst, p->in_zp, run);
            continue;
        }
        src = in + iy * p->in_w * c;
        if (ix0 >= 0 && ix0 + p->k_w <= p->in_w) {
            copy8(dst, src + ix0 * c, run);
            continue;
        }
        for (kx = 0; kx < p->k_w; ++kx) {
            const int32_t ix = ix0 + kx;
            if (ix < 0 || ix >= p->in_w) {
                fill8(dst + kx * c, p->in_zp, c);
            } else {
                copy8(dst + kx * c, src + ix * c, c);
            }
        }
    }
    return col;
}

/* The layer's constants for building columns, in locals (the column stores, through int8_t, would
 * otherwise make the compiler reload the layer's fields after each): a window row is `run` = k_w * c
 * contiguous input bytes, `full` whole vectors of 16 and the rest under `tail` (no lane when
 * run % 16 == 0); `row` input bytes from one window row to the next. */
typedef struct {
    const int8_t *in;
    int32_t in_h, in_w, k_h, k_w, c, run, full, row, one; /* one: a 1x1 window */
#if ZOO_MVE
    mve_pred16_t tail;
#endif
} zoo_cols_t;

/* Column of the window with origin (iy0, ix0): its taps in (ky, kx, c) order, padding as the zero
 * point. Returns the column (inside `col`, or the input itself for a 1x1 window without padding). A
 * window inside the input is k_h row copies: per row `full` unpredicated vectors, then one
 * VCTP-predicated load and store (a 3x3 window over 3 channels: three 9-byte rows, no per-tap work). */
ZOO_INLINE const int8_t *conv_column(const zoo_conv_t *p, const zoo_cols_t *g, int32_t iy0, int32_t ix0, int8_t *col)
{
    const int8_t *src;
    int8_t *dst = col;
    int32_t ky, i;
    if (iy0 < 0 || ix0 < 0 || iy0 + g->k_h > g->in_h || ix0 + g->k_w > g->in_w) {
        return border_column(p, g->in, iy0, ix0, col);
    }
    src = g->in + iy0 * g->row + ix0 * g->c;
    if (g->one) return src;
    for (ky = 0; ky < g->k_h; ++ky, src += g->row, dst += g->run) {
#if ZOO_MVE
        for (i = 0; i < g->full; ++i) vst1q_s8(dst + 16 * i, vld1q_s8(src + 16 * i));
        vstrbq_p_s8(dst + 16 * i, vldrbq_z_s8(src + 16 * i, g->tail), g->tail);
#else
        (void)i;
        memcpy(dst, src, (size_t)g->run);
#endif
    }
    return col;
}

/* The runs of live channels ({first, count} pairs, *runs) and their records (*rec) of a layer with
 * records in rq: under ZOO_CONV_CONST from rq's header, otherwise the one run `all` = {0, out_c}.
 * Returns the number of runs. (The MVE path calls it under ZOO_CONV_CONST only.) */
static int32_t live_runs(const zoo_conv_t *p, const int32_t *all, const int32_t **runs, const int32_t **rec)
{
    if (!(p->flags & ZOO_CONV_CONST)) {
        *runs = all;
        *rec = p->rq;
        return 1;
    }
    *runs = p->rq + 1;
    *rec = p->rq + 1 + 2 * p->rq[0];
    return p->rq[0];
}

#if ZOO_MVE
/* The four dot products of one weight row with four columns over k taps, plus the bias: full
 * groups of 16 taps in a low-overhead loop (five post-incremented VLDRB, four VMLADAVA), the last
 * < 16 under a VCTP tail predicate (weight lanes past k load as 0). */
ZOO_INLINE int32x4_t dot4_mve(const int8_t *w, const int8_t *const *col, int32_t k, int32_t bias)
{
    const int8_t *c0 = col[0], *c1 = col[1], *c2 = col[2], *c3 = col[3];
    int32_t a0 = bias, a1 = bias, a2 = bias, a3 = bias;
    const int32_t n = k >> 4, rest = k & 15;
    int32x4_t acc;
    __asm__ volatile("wls lr, %[n], 2f\n"
                     "1:\n\t"
                     "vldrb.u8 q0, [%[w]], #16\n\t"
                     "vldrb.u8 q1, [%[c0]], #16\n\t"
                     "vmladava.s8 %[a0], q1, q0\n\t"
                     "vldrb.u8 q2, [%[c1]], #16\n\t"
                     "vmladava.s8 %[a1], q2, q0\n\t"
                     "vldrb.u8 q1, [%[c2]], #16\n\t"
                     "vmladava.s8 %[a2], q1, q0\n\t"
                     "vldrb.u8 q2, [%[c3]], #16\n\t"
                     "vmladava.s8 %[a3], q2, q0\n\t"
                     "le lr, 1b\n"
                     "2:\n\t"
                     : [a0] "+Te"(a0), [a1] "+Te"(a1), [a2] "+Te"(a2), [a3] "+Te"(a3), [w] "+r"(w),
                       [c0] "+r"(c0), [c1] "+r"(c1), [c2] "+r"(c2), [c3] "+r"(c3)
                     : [n] "r"(n)
                     : "q0", "q1", "q2", "lr", "memory");
    if (rest) {
        const mve_pred16_t tail = vctp8q((uint32_t)rest);
        const int8x16_t wv = vldrbq_z_s8(w, tail);
        a0 = vmladavaq_s8(a0, vldrbq_z_s8(c0, tail), wv);
        a1 = vmladavaq_s8(a1, vldrbq_z_s8(c1, tail), wv);
        a2 = vmladavaq_s8(a2, vldrbq_z_s8(c2, tail), wv);
        a3 = vmladavaq_s8(a3, vldrbq_z_s8(c3, tail), wv);
    }
    acc = vdupq_n_s32(a0);
    acc = vsetq_lane_s32(a1, acc, 1);
    acc = vsetq_lane_s32(a2, acc, 2);
    return vsetq_lane_s32(a3, acc, 3);
}


/* Every output channel of four columns in one asm loop, for a layer whose shifts are all <= 0 and
 * whose per-channel records are {bias, mult} with the shifts in shift8 (layout_mve.records): per
 * channel the four dot products
 * (the loop of dot4_mve, its VCTP tail), TFLM's requantization on the four lanes and one VSTRB
 * scatter into the four pixels; q0-q3 per channel, q4-q7 (pushed once per call) hold the output zero
 * point, the activation bounds and the four pixels' output offsets. r0 args = {col0..col3, k / 16, k % 16, zp, act_min, act_max,
 * the four pixels' output offsets, out_c, k / 16 - 1, shift8 - out (channel oc's shift at r2 + oc +
 * that)}, r1 weights, r2 output (channel 0 of the first pixel), r3 records {bias, mult}. */
void zoo_mve_channels4(const int32_t *args, const int8_t *w, int8_t *out, const int32_t *rec);
/* 16 taps of the four columns r3, r5, r7, r8 against the weights r1: accumulators r0, r2, r4, r6. */
#define ZOO_MVE_GROUP                                                      \
    "vldrb.u8 q0, [r1], #16\n\t"                                          \
    "vldrb.u8 q1, [r3], #16\n\t"                                          \
    "vmladava.s8 r0, q1, q0\n\t"                                          \
    "vldrb.u8 q2, [r5], #16\n\t"                                          \
    "vmladava.s8 r2, q2, q0\n\t"                                          \
    "vldrb.u8 q1, [r7], #16\n\t"                                          \
    "vmladava.s8 r4, q1, q0\n\t"                                          \
    "vldrb.u8 q2, [r8], #16\n\t"                                          \
    "vmladava.s8 r6, q2, q0\n\t"
/* zoo_mve_channels4's tail of one channel: q3 (after VQRDMULH, q1 the sign mask) rounded right by
 * register E half away from zero, plus the zero point (q7), clamped (q4, q5), scattered to the four
 * pixels (r9 + q6); then the next channel (r9, count r11). */
#define ZOO_MVE_RQ_STORE(E)                                                \
    "vand q1, q3, q1\n\t"                                                  \
    "vshr.s32 q1, q1, #31\n\t"                                             \
    "vqadd.s32 q3, q3, q1\n\t"                                             \
    "vrshl.s32 q3, " E "\n\t"                                              \
    "vadd.i32 q3, q3, q7\n\t"                                              \
    "vmax.s32 q3, q3, q4\n\t"                                              \
    "vmin.s32 q3, q3, q5\n\t"                                              \
    "vstrb.32 q3, [r9, q6]\n\t"                                            \
    "adds r9, #1\n\t"                                                      \
    "subs r11, #1\n\t"

__asm__(".section .text.zoo_mve_channels4,\"ax\",%progbits\n\t"
        ".align 2\n\t"
        ".global zoo_mve_channels4\n\t"
        ".thumb\n\t"
        ".thumb_func\n\t"
        ".type zoo_mve_channels4, %function\n"
        "zoo_mve_channels4:\n\t"
        "push {r4-r11, lr}\n\t"
        "mov r12, r0\n\t"
        "mov r9, r2\n\t"
        "mov r10, r3\n\t"
        "ldr r11, [r12, #52]\n\t"
        /* the layer's constants in q4-q7 for the whole call: zp, act_min, act_max, the output offsets */
        "vpush {d8-d15}\n\t"
        "ldr r0, [r12, #24]\n\t"
        "vdup.32 q7, r0\n\t"
        "ldrd r0, r2, [r12, #28]\n\t"
        "vdup.32 q4, r0\n\t"
        "vdup.32 q5, r2\n\t"
        "vldrw.u32 q6, [r12, #36]\n\t"

        "ldr r0, [r12, #20]\n\t"
        "cmp r0, #0\n\t"
        "bne 5f\n"
        /* k % 16 == 0: the first group of taps with VMLADAV (no accumulate), the bias added on the vector */
        "6:\n\t"
        "ldrd r3, r5, [r12]\n\t"
        "ldrd r7, r8, [r12, #8]\n\t"
        "vldrb.u8 q0, [r1], #16\n\t"
        "vldrb.u8 q1, [r3], #16\n\t"
        "vmladav.s8 r0, q1, q0\n\t"
        "vldrb.u8 q2, [r5], #16\n\t"
        "vmladav.s8 r2, q2, q0\n\t"
        "vldrb.u8 q1, [r7], #16\n\t"
        "vmladav.s8 r4, q1, q0\n\t"
        "vldrb.u8 q2, [r8], #16\n\t"
        "vmladav.s8 r6, q2, q0\n\t"
        "ldr lr, [r12, #56]\n\t"
        "wls lr, lr, 2f\n"
        "1:\n\t" ZOO_MVE_GROUP
        "le lr, 1b\n"
        "2:\n\t"
        "vmov q3[2], q3[0], r0, r4\n\t" /* lanes 0, 2 = r0, r4 */
        "vmov q3[3], q3[1], r2, r6\n\t"
        "ldrd r3, r5, [r10], #8\n\t" /* bias, mult */
        "ldr r7, [r12, #60]\n\t"
        "ldrsb r7, [r9, r7]\n\t" /* shift */
        "vadd.i32 q3, q3, r3\n\t"
        "vqrdmulh.s32 q3, q3, r5\n\t"
        "vdup.32 q1, r7\n\t"
        ZOO_MVE_RQ_STORE("r7")
        "bne 6b\n\t"
        "b 4f\n"
        /* any k: accumulators from the bias, whole groups, then the VCTP tail */
        "5:\n\t"
        "ldr r0, [r10], #4\n\t"
        "mov r2, r0\n\t"
        "mov r4, r0\n\t"
        "mov r6, r0\n\t"
        "ldrd r3, r5, [r12]\n\t"
        "ldrd r7, r8, [r12, #8]\n\t"
        "ldr lr, [r12, #16]\n\t"
        "wls lr, lr, 2f\n"
        "1:\n\t" ZOO_MVE_GROUP
        "le lr, 1b\n"
        "2:\n\t"
        "ldr lr, [r12, #20]\n\t" /* k % 16 != 0 on this path */
        "vctp.8 lr\n\t"
        "vpstttt\n\t"
        "vldrbt.u8 q0, [r1]\n\t"
        "vldrbt.u8 q1, [r3]\n\t"
        "vldrbt.u8 q2, [r5]\n\t"
        "vmladavat.s8 r0, q1, q0\n\t"
        "vpstttt\n\t"
        "vmladavat.s8 r2, q2, q0\n\t"
        "vldrbt.u8 q1, [r7]\n\t"
        "vldrbt.u8 q2, [r8]\n\t"
        "vmladavat.s8 r4, q1, q0\n\t"
        "vpst\n\t"
        "vmladavat.s8 r6, q2, q0\n\t"
        "add r1, r1, lr\n\t"
        "vmov q3[2], q3[0], r0, r4\n\t" /* lanes 0, 2 = r0, r4 */
        "vmov q3[3], q3[1], r2, r6\n\t"
        "ldr r3, [r10], #4\n\t" /* mult */
        "ldr r5, [r12, #60]\n\t"
        "ldrsb r5, [r9, r5]\n\t" /* shift */
        "vqrdmulh.s32 q3, q3, r3\n\t"
        "vdup.32 q1, r5\n\t"
        ZOO_MVE_RQ_STORE("r5")
        "bne 5b\n"
        "4:\n\t"
        "vpop {d8-d15}\n\t"
        "pop {r4-r11, pc}\n\t"
        ".size zoo_mve_channels4, .-zoo_mve_channels4\n\t"
        ".text");

/* conv_channels4 for a layer with left shifts (bias, mult and shift arrays): intrinsics, in a frame of
 * its own (its vector registers are saved only when it runs). */
__attribute__((noinline)) static void conv_channels4_lshift(const zoo_conv_t *p, const int8_t *const *col, int32_t k,
                                                            int8_t *out, int32_t n)
{
    const int32_t oc_n = p->out_c, zp = p->out_zp;
    const int32_t *bias = p->bias, *mult = p->mult, *shift = p->shift;
    const int8_t *w = p->weights;
    const uint32x4_t offsets = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)oc_n);
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    const mve_pred16_t valid = vctp32q((uint32_t)n);
    int32_t oc;
    for (oc = 0; oc < oc_n; ++oc, w += k) {
        const int32x4_t acc = dot4_mve(w, col, k, bias[oc]);
        const int32_t sh = shift[oc];
        int32x4_t v = vqrdmulhq_n_s32(sh > 0 ? vshlq_r_s32(acc, sh) : acc, mult[oc]);
        const int32_t right = sh > 0 ? 0 : -sh;
        v = vqaddq_s32(v, vshrq_n_s32(vandq_s32(v, vdupq_n_s32(-right)), 31));
        v = vaddq_n_s32(vrshlq_n_s32(v, -right), zp);
        vstrbq_scatter_offset_p_s32(out + oc, offsets, vminq_s32(vmaxq_s32(v, lo), hi), valid);
    }
}

/* zoo_mve_channels4's arguments for up to four pixels (`n`) whose columns are `col`, every channel. */
ZOO_INLINE void channels_args(int32_t args[16], const zoo_conv_t *p, const int8_t *const *col, int32_t k, int32_t n,
                              const int8_t *out)
{
    const int32_t oc_n = p->out_c;
    args[0] = (int32_t)(uintptr_t)col[0];
    args[1] = (int32_t)(uintptr_t)col[1];
    args[2] = (int32_t)(uintptr_t)col[2];
    args[3] = (int32_t)(uintptr_t)col[3];
    args[4] = k >> 4;
    args[5] = k & 15;
    args[6] = p->out_zp;
    args[7] = p->act_min;
    args[8] = p->act_max;
    args[9] = 0;
    args[10] = n > 1 ? oc_n : 0;
    args[11] = n > 2 ? 2 * oc_n : 0;
    args[12] = n > 3 ? 3 * oc_n : 0;
    args[13] = oc_n;
    args[14] = (k >> 4) - 1;
    args[15] = (int32_t)((uintptr_t)p->shift8 - (uintptr_t)out);
}

/* conv_channels4 of a layer with records in rq (ZOO_CONV_RSHIFT, no constants): zoo_mve_channels4 runs
 * every channel. The one path of zoo_conv2d_s8_mve_rq. */
__attribute__((noinline)) static void conv_channels4_rq(const zoo_conv_t *p, const int8_t *const *col, int32_t k,
                                                        int8_t *out, int32_t n)
{
    int32_t args[16];
    channels_args(args, p, col, k, n, out);
    zoo_mve_channels4(args, p->weights, out, p->rq);
}

/* conv_channels4 under ZOO_CONV_CONST: the pixels filled with the constants, then zoo_mve_channels4 on
 * each run of live channels (in a frame of its own: the other layers' path stays as it was). */
__attribute__((noinline)) static void conv_const4(const zoo_conv_t *p, const int8_t *const *col, int32_t k,
                                                  int8_t *out, int32_t n)
{
    const int32_t oc_n = p->out_c;
    int32_t args[16];
    const int8_t *w = p->weights;
    const int32_t *runs, *rec;
    const int32_t n_runs = live_runs(p, 0, &runs, &rec);
    int32_t r, j;
    channels_args(args, p, col, k, n, out); /* shift8 - out: the same for every run */
    for (j = 0; j < n; ++j) copy8(out + j * oc_n, p->pad, oc_n);
    for (r = 0; r < n_runs; ++r) {
        const int32_t count = runs[2 * r + 1];
        args[13] = count;
        zoo_mve_channels4(args, w, out + runs[2 * r], rec);
        w += count * k;
        rec += 2 * count;
    }
}

/* Every output channel of up to four pixels (`n`) whose columns are `col`: pixel j's channel oc at
 * out[j * oc_n + oc]. */
__attribute__((noinline)) static void conv_channels4(const zoo_conv_t *p, const int8_t *const *col, int32_t k,
                                                     int8_t *out, int32_t n)
{
    if (p->flags & ZOO_CONV_CONST) {
        conv_const4(p, col, k, out, n);
    } else if (p->rq != 0) {
        conv_channels4_rq(p, col, k, out, n);
    } else {
        conv_channels4_lshift(p, col, k, out, n);
    }
}
#define CONV_CHANNELS4_RQ conv_channels4_rq
#else
#define CONV_CHANNELS4_RQ conv_channels4
static void conv_channels4(const zoo_conv_t *p, const int8_t *const *col, int32_t k, int8_t *out, int32_t n)
{
    const int8_t *w = p->weights;
    const int32_t all[2] = {0, p->out_c};
    const int32_t *runs = all, *q = 0;
    const int32_t n_runs = p->rq != 0 ? live_runs(p, all, &runs, &q) : 1;
    int32_t r, oc, j, i;
    if (p->flags & ZOO_CONV_CONST) {
        for (j = 0; j < n; ++j) memcpy(out + j * p->out_c, p->pad, (size_t)p->out_c);
    }
    for (r = 0; r < n_runs; ++r) {
        for (oc = runs[2 * r]; oc < runs[2 * r] + runs[2 * r + 1]; ++oc, w += k) {
            const int32_t bias = q ? q[0] : p->bias[oc], mult = q ? q[1] : p->mult[oc];
            const int32_t shift = q ? p->shift8[oc] : p->shift[oc];
            for (j = 0; j < n; ++j) {
                int32_t acc = bias;
                for (i = 0; i < k; ++i) acc += col[j][i] * w[i];
                out[j * p->out_c + oc] = zoo_clamp8(zoo_mbqm(acc, mult, shift) + p->out_zp, p->act_min, p->act_max);
            }
            if (q) q += 2;
        }
    }
}
#endif

/* Every output pixel, four at a time: their columns, then `channels` on them. */
typedef void zoo_channels4_fn(const zoo_conv_t *p, const int8_t *const *col, int32_t k, int8_t *out, int32_t n);
__attribute__((noinline)) static void conv_layer(const zoo_conv_t *p, const int8_t *in, int8_t *out, int8_t *scratch,
                                                 zoo_channels4_fn *channels)
{
    const int32_t k = p->k_h * p->k_w * p->in_c, npix = p->out_h * p->out_w, oc_n = p->out_c, run = p->k_w * p->in_c;
    const int32_t sh = p->stride_h, sw = p->stride_w, ix_start = -p->pad_left, ix_end = ix_start + p->out_w * sw;
    const zoo_cols_t g = {in, p->in_h, p->in_w, p->k_h, p->k_w, p->in_c, run, run >> 4, p->in_w * p->in_c,
                          p->k_h == 1 && p->k_w == 1,
#if ZOO_MVE
                          vctp8q((uint32_t)(run & 15))
#endif
    };
    const int8_t *col[4];
    int32_t pix, j, iy0 = -p->pad_top, ix0 = ix_start;
    for (pix = 0; pix < npix; pix += 4) {
        const int32_t n = npix - pix < 4 ? npix - pix : 4;
        for (j = 0; j < n; ++j, ix0 += sw) {
            if (ix0 == ix_end) { /* the next output row */
                ix0 = ix_start;
                iy0 += sh;
            }
            col[j] = conv_column(p, &g, iy0, ix0, scratch + j * k);
        }
        for (; j < 4; ++j) col[j] = col[0];
        channels(p, col, k, out + pix * oc_n, n);
    }
}

void zoo_conv2d_s8_mve(const zoo_conv_t *p, const int8_t *in, int8_t *out, int8_t *scratch)
{
    conv_layer(p, in, out, scratch, conv_channels4);
}

void zoo_conv2d_s8_mve_rq(const zoo_conv_t *p, const int8_t *in, int8_t *out, int8_t *scratch)
{
    if (p->rq == 0 || !(p->flags & ZOO_CONV_RSHIFT) || (p->flags & ZOO_CONV_CONST)) {
        __builtin_trap(); /* not a layer for the records path: a generator bug, never a wrong output */
    }
    conv_layer(p, in, out, scratch, CONV_CHANNELS4_RQ);
}
