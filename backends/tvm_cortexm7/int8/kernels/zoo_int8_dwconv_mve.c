/* zoo int8 DEPTHWISE_CONV_2D for Helium (MVE), depth multiplier 1: per output pixel, 16 channels at
 * a time (then 8) as four int32x4 accumulators (VLDRB.S16 widens 8 input and 8 weight bytes, VMULLB
 * and VMULLT multiply the even and the odd lanes into int32, VADD), every tap of the window; then the
 * accumulators requantized per channel on vectors (zoo_requant_mve_v: TFLM's rounding, half away
 * from zero) and scattered back into channel order. The channels past the last 8 go 4 at a time
 * (VLDRB.S32, VMUL, VADD), the last < 4 under a VCTP tail predicate. A layer of a multiple of 8
 * channels without left shifts runs its taps and requantization in one asm block per pixel and
 * group of 16 (or the last 8): dw_asm. The generator calls such layers through zoo_dwconv_s8_mve_fast
 * (the asm path only), the others through zoo_dwconv_s8_mve, which still takes the asm path where it
 * applies (for callers of the library of their own).
 *
 * Layout (layout_mve.conv_arrays): the model's own HWO int8 weights, [k_h * k_w][c], the bias with
 * the input zero point folded in, TFLM's multiplier per channel and its shift as int8 in `shift8` (within
 * each full group of 8 channels in the order 0 2 4 6 1 3 5 7); `pad` holds c bytes of
 * the input zero point (what a tap in the padding reads). Without MVE a portable loop computes the
 * same integers from the same layout. */
#include "zoo_int8.h"

/* The asm blocks below take ten registers with four of them low ones; an unoptimized build (-O0: every
 * variable on the stack, r7 the frame pointer) cannot give them, so such a build compiles this file at
 * -O1 (an optimized build, of any level, is not affected). */
#if !defined(__OPTIMIZE__)
#pragma GCC optimize("O1")
#endif

/* Input pixel of each tap of the window at (iy0, ix0); `pad` where the tap is padding. */
static void taps_of(const zoo_conv_t *p, const int8_t *in, int32_t iy0, int32_t ix0, const int8_t **tap)
{
    int32_t ky, kx, t = 0;
    for (ky = 0; ky < p->k_h; ++ky) {
        for (kx = 0; kx < p->k_w; ++kx, ++t) {
            const int32_t iy = iy0 + ky, ix = ix0 + kx;
            tap[t] = (iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w) ? in + (iy * p->in_w + ix) * p->in_c
                                                                         : p->pad;
        }
    }
}

#if ZOO_MVE
/* Channels [c0, c0 + 8 * G) of one output pixel, G groups of 8 (G = 1 or 2, a constant at each call):
 * per tap and group one VLDRB.S16 of the inputs and one of the weights, VMULLB / VMULLT (the even and
 * the odd channels' int32 products), two VADD. The accumulators hold a group's even channels, then
 * its odd ones: the order layout_mve stores the bias, multipliers and shifts of a group of 8 in. */
ZOO_INLINE void dw8(const zoo_conv_t *p, const int8_t *const *tap, int32_t taps, int32_t c0, int8_t *out, int g_n)
{
    const int32_t c = p->in_c, zp = p->out_zp;
    const int8_t *w = p->weights + c0;
    const int32_t *bias = p->bias + c0, *mult = p->mult + c0;
    const int8_t *shift = p->shift8 + c0;
    const uint32x4_t even = vidupq_n_u32(0, 2);
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    int32x4_t a0 = vld1q_s32(bias), a1 = vld1q_s32(bias + 4), a2 = a0, a3 = a1;
    int32_t t;
    if (g_n == 2) {
        a2 = vld1q_s32(bias + 8);
        a3 = vld1q_s32(bias + 12);
    }
    for (t = 0; t < taps; ++t, w += c) {
        const int8_t *x = tap[t] + c0;
        int16x8_t xv = vldrbq_s16(x), wv = vldrbq_s16(w);
        a0 = vaddq_s32(a0, vmullbq_int_s16(xv, wv));
        a1 = vaddq_s32(a1, vmulltq_int_s16(xv, wv));
        if (g_n == 2) {
            xv = vldrbq_s16(x + 8);
            wv = vldrbq_s16(w + 8);
            a2 = vaddq_s32(a2, vmullbq_int_s16(xv, wv));
            a3 = vaddq_s32(a3, vmulltq_int_s16(xv, wv));
        }
    }
    out += c0;
    vstrbq_scatter_offset_s32(out, even, zoo_requant_mve_v(a0, vld1q_s32(mult), vldrbq_s32(shift), zp, lo, hi));
    vstrbq_scatter_offset_s32(out + 1, even, zoo_requant_mve_v(a1, vld1q_s32(mult + 4), vldrbq_s32(shift + 4), zp, lo, hi));
    if (g_n == 2) {
        vstrbq_scatter_offset_s32(out + 8, even, zoo_requant_mve_v(a2, vld1q_s32(mult + 8), vldrbq_s32(shift + 8), zp,
                                                                   lo, hi));
        vstrbq_scatter_offset_s32(out + 9, even, zoo_requant_mve_v(a3, vld1q_s32(mult + 12), vldrbq_s32(shift + 12),
                                                                   zp, lo, hi));
    }
}

/* Requantize accumulator QA (channels OFF4 * 4 past the group's first: OFF bytes into mult, OFF4 into
 * the int8 shifts) in place: no left shifts (every shift <= 0, ZOO_CONV_RSHIFT), q7 the activation
 * floor, q4-q6 scratch; after the tap loop the registers hold %[tp] mult, %[c0] shift, %[w] the output
 * zero point, %[c] the activation ceiling. */
#define ZOO_DW_RQ(QA, OFF, OFF4)                                           \
    "vldrw.u32 q4, [%[tp], #" OFF "]\n\t"                                 \
    "vldrb.s32 q5, [%[c0], #" OFF4 "]\n\t"                                \
    "vqrdmulh.s32 " QA ", " QA ", q4\n\t"                                 \
    "vand q6, " QA ", q5\n\t"                                             \
    "vshr.s32 q6, q6, #31\n\t"                                            \
    "vqadd.s32 " QA ", " QA ", q6\n\t"                                    \
    "vrshl.s32 " QA ", " QA ", q5\n\t"                                    \
    "vadd.i32 " QA ", " QA ", %[w]\n\t"                                   \
    "vmax.s32 " QA ", " QA ", q7\n\t"                                     \
    "vdup.32 q6, %[c]\n\t"                                                \
    "vmin.s32 " QA ", " QA ", q6\n\t"

/* One tap of a group of 8 channels (OFF bytes past c0): VLDRB.S16 of the inputs and the weights,
 * the even channels' products into QE, the odd ones' into QO. */
#define ZOO_DW_MAC8(QE, QO, OFF)                                           \
    "vldrb.s16 q4, [%[x], #" OFF "]\n\t"                                  \
    "vldrb.s16 q5, [%[w], #" OFF "]\n\t"                                  \
    "vmullb.s16 q6, q4, q5\n\t"                                           \
    "vadd.i32 " QE ", " QE ", q6\n\t"                                     \
    "vmullt.s16 q6, q4, q5\n\t"                                           \
    "vadd.i32 " QO ", " QO ", q6\n\t"
/* One tap of two adjacent output pixels of a layer of 8 channels (stride 1: the second pixel's input 8
 * bytes on), the weights loaded once: the first pixel's products into q0 / q1, the second's into q2 / q3. */
#define ZOO_DW_MAC8X2                                                      \
    "vldrb.s16 q4, [%[x]]\n\t"                                            \
    "vldrb.s16 q5, [%[w]]\n\t"                                            \
    "vmullb.s16 q6, q4, q5\n\t"                                           \
    "vadd.i32 q0, q0, q6\n\t"                                             \
    "vmullt.s16 q6, q4, q5\n\t"                                           \
    "vadd.i32 q1, q1, q6\n\t"                                             \
    "vldrb.s16 q4, [%[x], #8]\n\t"                                        \
    "vmullb.s16 q6, q4, q5\n\t"                                           \
    "vadd.i32 q2, q2, q6\n\t"                                             \
    "vmullt.s16 q6, q4, q5\n\t"                                           \
    "vadd.i32 q3, q3, q6\n\t"
/* The tap loop around BODY (tap t's input pixel at base + tap_off[t]), then the requantization's
 * operands into registers (see ZOO_DW_RQ): q = {mult as a byte offset from the bias array, the int8
 * shifts less a quarter of the bias array's address (the group's shifts at that plus b / 4), the output
 * zero point, the activation bounds}, the same for every channel group of the layer. */
#define ZOO_DW_TAPS(BODY)                                                  \
    "dls lr, %[n]\n"                                                       \
    "1:\n\t"                                                               \
    "ldr %[x], [%[tp]], #4\n\t"                                           \
    "add %[x], %[x], %[c0]\n\t" BODY                                      \
    "add %[w], %[w], %[c]\n\t"                                            \
    "le lr, 1b\n\t"                                                        \
    "ldr %[tp], [%[q]]\n\t"                                               \
    "add %[tp], %[tp], %[b]\n\t"                                          \
    "ldr %[c0], [%[q], #4]\n\t"                                           \
    "add %[c0], %[c0], %[b], lsr #2\n\t"                                  \
    "ldr %[w], [%[q], #8]\n\t"                                            \
    "ldr %[x], [%[q], #12]\n\t"                                           \
    "ldr %[c], [%[q], #16]\n\t"                                           \
    "vdup.32 q7, %[x]\n\t"
/* A group's even (QE) and odd (QO) channels narrowed back into channel order and stored at OFF. */
#define ZOO_DW_STORE8(QE, QO, OFF)                                         \
    "vmovnb.i32 q4, " QE "\n\t"                                           \
    "vmovnt.i32 q4, " QO "\n\t"                                           \
    "vstrb.16 q4, [%[o], #" OFF "]\n\t"
#define ZOO_DW_OPERANDS                                                    \
    : [w] "+l"(w), [tp] "+r"(tp), [x] "=&l"(x), [c0] "+l"(off), [c] "+r"(c)  \
    : [b] "r"(b), [n] "r"(taps), [q] "r"(q), [o] "l"(out)                    \
    : "q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "lr", "memory"

/* dw8 for a layer without left shifts, in one asm block: G = 2 (`sixteen` 1: per tap 16 instructions
 * for 16 MACs) or G = 1 (10 for 8), or (`sixteen` 2) two adjacent pixels of a layer of 8 channels at
 * stride 1 (15 for 16 MACs, as vww01's first depthwise: the weights loaded once a tap); then the
 * accumulators requantized, narrowed back into channel order (VMOVNB / VMOVNT of the even and the
 * odd channels) and stored as 8 bytes per group. w, b, base and out point at channel c0 of the
 * weights, the bias, the window's origin and the output pixel; c is the layer's channel count. */
ZOO_INLINE void dw_asm(const int32_t *q, const int8_t *w, const int32_t *b, const int32_t *tap_off,
                       const int8_t *base, int32_t taps, int32_t c, int8_t *out, int sixteen)
{
    const int8_t *x;
    const int32_t *tp = tap_off;
    int32_t off = (int32_t)(uintptr_t)base;
    if (sixteen == 2) { /* two pixels of 8 channels: the same bias, weights and requantization */
        __asm__ volatile("vldrw.u32 q0, [%[b]]\n\t"
                         "vldrw.u32 q1, [%[b], #16]\n\t"
                         "vmov q2, q0\n\t"
                         "vmov q3, q1\n\t"
                         ZOO_DW_TAPS(ZOO_DW_MAC8X2)
                         ZOO_DW_RQ("q0", "0", "0") ZOO_DW_RQ("q1", "16", "4") ZOO_DW_RQ("q2", "0", "0")
                         ZOO_DW_RQ("q3", "16", "4")
                         ZOO_DW_STORE8("q0", "q1", "0") ZOO_DW_STORE8("q2", "q3", "8")
                         ZOO_DW_OPERANDS);
    } else if (sixteen) {
        __asm__ volatile("vldrw.u32 q0, [%[b]]\n\t"
                         "vldrw.u32 q1, [%[b], #16]\n\t"
                         "vldrw.u32 q2, [%[b], #32]\n\t"
                         "vldrw.u32 q3, [%[b], #48]\n\t"
                         ZOO_DW_TAPS(ZOO_DW_MAC8("q0", "q1", "0") ZOO_DW_MAC8("q2", "q3", "8"))
                         ZOO_DW_RQ("q0", "0", "0") ZOO_DW_RQ("q1", "16", "4") ZOO_DW_RQ("q2", "32", "8")
                         ZOO_DW_RQ("q3", "48", "12")
                         ZOO_DW_STORE8("q0", "q1", "0") ZOO_DW_STORE8("q2", "q3", "8")
                         ZOO_DW_OPERANDS);
    } else {
        __asm__ volatile("vldrw.u32 q0, [%[b]]\n\t"
                         "vldrw.u32 q1, [%[b], #16]\n\t"
                         ZOO_DW_TAPS(ZOO_DW_MAC8("q0", "q1", "0"))
                         ZOO_DW_RQ("q0", "0", "0") ZOO_DW_RQ("q1", "16", "4")
                         ZOO_DW_STORE8("q0", "q1", "0")
                         ZOO_DW_OPERANDS);
    }
}

/* Channels [c0, c0 + n) of one output pixel, n <= 4. */
static void dw4(const zoo_conv_t *p, const int8_t *const *tap, int32_t taps, int32_t c0, int32_t n, int8_t *out)
{
    const mve_pred16_t pr = vctp32q((uint32_t)n);
    const int8_t *w = p->weights + c0;
    int32x4_t acc = vldrwq_z_s32(p->bias + c0, pr);
    int32_t t;
    for (t = 0; t < taps; ++t, w += p->in_c) {
        acc = vaddq_s32(acc, vmulq_s32(vldrbq_z_s32(tap[t] + c0, pr), vldrbq_z_s32(w, pr)));
    }
    vstrbq_p_s32(out + c0, zoo_requant_mve_v(acc, vldrwq_z_s32(p->mult + c0, pr), vldrbq_z_s32(p->shift8 + c0, pr),
                                             p->out_zp, vdupq_n_s32(p->act_min), vdupq_n_s32(p->act_max)), pr);
}
#endif

#if !ZOO_MVE
/* Where channel ch's bias, multiplier and shift are (the order of dw8's accumulators). */
static int32_t dw_slot(int32_t c, int32_t ch)
{
    const int32_t r = ch & 7;
    return ch < (c & ~7) ? (ch - r) + (r & 1) * 4 + (r >> 1) : ch;
}
#endif

/* Every channel of one output pixel. */
static void dw_pixel(const zoo_conv_t *p, const int8_t *const *tap, int32_t taps, int8_t *out)
{
    const int32_t c = p->in_c;
    int32_t c0 = 0;
#if ZOO_MVE
    for (; c0 + 16 <= c; c0 += 16) dw8(p, tap, taps, c0, out, 2);
    if (c0 + 8 <= c) {
        dw8(p, tap, taps, c0, out, 1);
        c0 += 8;
    }
    for (; c0 < c; c0 += 4) dw4(p, tap, taps, c0, c - c0 < 4 ? c - c0 : 4, out);
#else
    for (; c0 < c; ++c0) {
        const int32_t q = dw_slot(c, c0);
        int32_t acc = p->bias[q], t;
        for (t = 0; t < taps; ++t) acc += tap[t][c0] * p->weights[t * c + c0];
        out[c0] = zoo_clamp8(zoo_mbqm(acc, p->mult[q], p->shift8[q]) + p->out_zp, p->act_min, p->act_max);
    }
#endif
}

#if ZOO_MVE
/* The offsets from the input of the taps of the window at (iy0, ix0), which crosses the border:
 * `pad` (the pad row's) for a tap in the padding. */
__attribute__((noinline)) static void border_offsets(const zoo_conv_t *p, int32_t iy0, int32_t ix0, int32_t pad,
                                                     int32_t *off)
{
    int32_t ky, kx;
    for (ky = 0; ky < p->k_h; ++ky) {
        for (kx = 0; kx < p->k_w; ++kx) {
            const int32_t iy = iy0 + ky, ix = ix0 + kx;
            *off++ = (iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w) ? (iy * p->in_w + ix) * p->in_c : pad;
        }
    }
}

/* Channels % 8 == 0, no left shifts: dw_asm on every pixel (16 channels at a time, the last 8 alone),
 * the layer's fields in locals (the asm's stores would make the compiler reload them); an inside
 * window reads its taps at the fixed offsets `rel` from its origin, one over the border at offsets
 * `off` from the input. */
ZOO_INLINE void dw_pixels_asm(const zoo_conv_t *p, const int8_t *in, int8_t *out, const int32_t *rel, int32_t *off,
                              int pairs)
{
    const int32_t taps = p->k_h * p->k_w, c = p->in_c, in_w = p->in_w, sw = p->stride_w, out_w = p->out_w;
    const int32_t pad = (int32_t)((uintptr_t)p->pad - (uintptr_t)in), k_w = p->k_w;
    const int32_t q[5] = {(int32_t)((uintptr_t)p->mult - (uintptr_t)p->bias),
                          (int32_t)((uintptr_t)p->shift8 - ((uintptr_t)p->bias >> 2)), p->out_zp, p->act_min,
                          p->act_max};
    const int8_t *w = p->weights;
    const int32_t *bias = p->bias;
    int32_t oy, ox, c0;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top, rows_inside = iy0 >= 0 && iy0 + p->k_h <= p->in_h;
        for (ox = 0; ox < out_w; ++ox, out += c) {
            const int32_t ix0 = ox * sw - p->pad_left;
            const int32_t *o = rel;
            const int8_t *base = in; /* a border window: offsets from the input's start */
            if (!rows_inside || ix0 < 0 || ix0 + k_w > in_w) {
                border_offsets(p, iy0, ix0, pad, off);
                o = off;
            } else {
                base = in + (iy0 * in_w + ix0) * c; /* formed only inside the input */
            }
            if (pairs && o == rel && ox + 1 < out_w && ix0 + 1 + k_w <= in_w) {
                dw_asm(q, w, bias, o, base, taps, c, out, 2); /* this pixel and the next, inside too */
                ++ox;
                out += c;
                continue;
            }
            for (c0 = 0; c0 + 16 <= c; c0 += 16) dw_asm(q, w + c0, bias + c0, o, base + c0, taps, c, out + c0, 1);
            if (c0 < c) dw_asm(q, w + c0, bias + c0, o, base + c0, taps, c, out + c0, 0); /* the last 8 */
        }
    }
}
#endif

#if ZOO_MVE
/* dw_pixels_asm with its offsets on the stack (a window of <= 9 taps); `pairs` (8 channels, stride 1): two
 * inside pixels an asm block, in a copy of its own that only zoo_dwconv_s8_mve_fast8 links. */
#define ZOO_DW_FAST_ASM(NAME, PAIRS)                                                                      \
    __attribute__((noinline)) static void NAME(const zoo_conv_t *p, const int8_t *in, int8_t *out)        \
    {                                                                                                     \
        int32_t rel[9], off[9], t;                                                                        \
        for (t = 0; t < p->k_h * p->k_w; ++t) rel[t] = ((t / p->k_w) * p->in_w + t % p->k_w) * p->in_c; \
        dw_pixels_asm(p, in, out, rel, off, PAIRS);                                                       \
    }
ZOO_DW_FAST_ASM(dw_fast_asm, 0)
ZOO_DW_FAST_ASM(dw_fast_asm8, 1)
#endif

/* The layer with caller-sized arrays of k_h * k_w entries (rel, tap), any channel count. */
ZOO_INLINE void dw_layer(const zoo_conv_t *p, const int8_t *in, int8_t *out, int32_t *rel, const int8_t **tap)
{
    const int32_t taps = p->k_h * p->k_w, c = p->in_c, in_w = p->in_w;
    int32_t oy, ox, t;
    for (t = 0; t < taps; ++t) rel[t] = ((t / p->k_w) * in_w + t % p->k_w) * c;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        for (ox = 0; ox < p->out_w; ++ox, out += c) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            if (zoo_window_inside(p, iy0, ix0)) {
                const int8_t *base = in + (iy0 * in_w + ix0) * c;
                for (t = 0; t < taps; ++t) tap[t] = base + rel[t];
            } else {
                taps_of(p, in, iy0, ix0, tap);
            }
            dw_pixel(p, tap, taps, out);
        }
    }
}

/* Each path its own frame, sized to its kernel: the stack holds only what the layer's path needs. */
__attribute__((noinline)) static void dw_small(const zoo_conv_t *p, const int8_t *in, int8_t *out)
{
    int32_t rel[9];
    const int8_t *tap[9];
    dw_layer(p, in, out, rel, tap);
}

__attribute__((noinline)) static void dw_large(const zoo_conv_t *p, const int8_t *in, int8_t *out)
{
    int32_t rel[ZOO_MAX_TAPS];
    const int8_t *tap[ZOO_MAX_TAPS];
    dw_layer(p, in, out, rel, tap);
}

void zoo_dwconv_s8_mve_fast(const zoo_conv_t *p, const int8_t *in, int8_t *out)
{
#if ZOO_MVE
    if (!(p->flags & ZOO_CONV_RSHIFT) || (p->in_c & 7) != 0 || p->k_h * p->k_w > 9) {
        __builtin_trap(); /* not a layer for the asm path: a generator bug, never a wrong output */
    }
    dw_fast_asm(p, in, out);
#else
    zoo_dwconv_s8_mve(p, in, out);
#endif
}

void zoo_dwconv_s8_mve_fast8(const zoo_conv_t *p, const int8_t *in, int8_t *out)
{
#if ZOO_MVE
    if (!(p->flags & ZOO_CONV_RSHIFT) || p->in_c != 8 || p->stride_w != 1 || p->k_h * p->k_w > 9) {
        __builtin_trap(); /* not a layer for this path: a generator bug, never a wrong output */
    }
    dw_fast_asm8(p, in, out);
#else
    zoo_dwconv_s8_mve(p, in, out);
#endif
}

void zoo_dwconv_s8_mve(const zoo_conv_t *p, const int8_t *in, int8_t *out)
{
    const int32_t taps = p->k_h * p->k_w;
#if ZOO_MVE
    if ((p->flags & ZOO_CONV_RSHIFT) && (p->in_c & 7) == 0 && taps <= 9) {
        dw_fast_asm(p, in, out);
        return;
    }
#endif
    if (taps <= 9) {
        dw_small(p, in, out);
    } else {
        dw_large(p, in, out);
    }
}
