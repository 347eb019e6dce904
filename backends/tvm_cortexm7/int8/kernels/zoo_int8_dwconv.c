/* zoo int8 DEPTHWISE_CONV_2D: 4 channels per inner loop (SMLABB/SMLATT on Cortex-M with
 * the DSP extension), any kernel size, stride, padding and depth multiplier. */
#include "zoo_int8.h"


/* 4 channels (group g) of one output pixel over all taps. `tap` holds each tap's input
 * pixel (the pad row for padding); `w` the group's weights [tap][w0 w2 w1 w3]. */
ZOO_INLINE void dw_group4(const int8_t *const *tap, int32_t g4, const int16_t *w, int32_t taps,
                          int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
#if ZOO_DSP
    int32_t x, xe, we, wo, n = taps;
    const int8_t *px;
    const int8_t *const *pt = tap;
    const int16_t *pw = w;
#define ZOO_DW_TAP                                                         \
    "ldr %[px], [%[pt]], #4\n\t"                                          \
    "ldr %[x], [%[px], %[g4]]\n\t"                                        \
    "ldrd %[we], %[wo], [%[pw]], #8\n\t"                                  \
    "sxtb16 %[xe], %[x]\n\t"                                              \
    "sxtb16 %[x], %[x], ror #8\n\t"                                       \
    "smlabb %[a0], %[xe], %[we], %[a0]\n\t"                               \
    "smlatt %[a2], %[xe], %[we], %[a2]\n\t"                               \
    "smlabb %[a1], %[x], %[wo], %[a1]\n\t"                                \
    "smlatt %[a3], %[x], %[wo], %[a3]\n\t"
    if (taps == 9) { /* 3x3: fully unrolled */
        __asm__ volatile(ZOO_DW_TAP ZOO_DW_TAP ZOO_DW_TAP ZOO_DW_TAP ZOO_DW_TAP ZOO_DW_TAP
                         ZOO_DW_TAP ZOO_DW_TAP ZOO_DW_TAP
                         : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [pt] "+r"(pt),
                           [pw] "+r"(pw), [px] "=&r"(px), [x] "=&r"(x), [xe] "=&r"(xe),
                           [we] "=&r"(we), [wo] "=&r"(wo)
                         : [g4] "r"(g4)
                         : "memory");
    } else
    __asm__ volatile("1:\n\t"
                     "ldr %[px], [%[pt]], #4\n\t"
                     "ldr %[x], [%[px], %[g4]]\n\t"
                     "ldrd %[we], %[wo], [%[pw]], #8\n\t"
                     "sxtb16 %[xe], %[x]\n\t"
                     "sxtb16 %[x], %[x], ror #8\n\t"
                     "smlabb %[a0], %[xe], %[we], %[a0]\n\t"
                     "smlatt %[a2], %[xe], %[we], %[a2]\n\t"
                     "smlabb %[a1], %[x], %[wo], %[a1]\n\t"
                     "smlatt %[a3], %[x], %[wo], %[a3]\n\t"
                     "subs %[n], %[n], #1\n\t"
                     "bne 1b\n\t"
                     : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [pt] "+r"(pt),
                       [pw] "+r"(pw), [n] "+r"(n), [px] "=&r"(px), [x] "=&r"(x), [xe] "=&r"(xe),
                       [we] "=&r"(we), [wo] "=&r"(wo)
                     : [g4] "r"(g4)
                     : "cc", "memory");
#else
    int32_t t;
    for (t = 0; t < taps; ++t, w += 4) {
        const int8_t *x = tap[t] + g4;
        a0 += x[0] * w[0];
        a2 += x[2] * w[1];
        a1 += x[1] * w[2];
        a3 += x[3] * w[3];
    }
#endif
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* Input pixel of each tap of the window at (iy0, ix0); `pad` where the tap is padding. */
static void dw_taps(const zoo_conv_t *p, const int8_t *in, const int8_t *pad, int32_t iy0,
                    int32_t ix0, const int8_t **tap)
{
    int32_t ky, kx, t = 0;
    for (ky = 0; ky < p->k_h; ++ky) {
        for (kx = 0; kx < p->k_w; ++kx, ++t) {
            const int32_t iy = iy0 + ky, ix = ix0 + kx;
            tap[t] = (iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w)
                         ? in + (iy * p->in_w + ix) * p->in_c : pad;
        }
    }
}

/* Any depth multiplier / channel count: one channel at a time (tap[t] == 0 is padding). */
static void dw_pixel_generic(const zoo_conv_t *p, const zoo_rq_t *r, const int8_t *const *tap,
                             int32_t taps, int8_t *out)
{
    int32_t oc, t;
    for (oc = 0; oc < p->out_c; ++oc) {
        const int32_t ic = oc / p->depth_mult;
        int32_t acc = p->bias[oc];
        for (t = 0; t < taps; ++t) {
            const int32_t x = tap[t] != 0 ? tap[t][ic] : p->in_zp;
            acc += x * p->weights[t * p->out_c + oc];
        }
        out[oc] = zoo_requant(r, acc, oc, 0);
    }
}

ZOO_INLINE void dw_pixels(const zoo_conv_t *p, const zoo_rq_t *r, const int8_t *in, int8_t *out,
                          int fast8)
{
    const int32_t taps = p->k_h * p->k_w, c = p->in_c, groups = c / 4;
    const int32_t *bias = p->bias;
    const int32_t in_w = p->in_w, sh = p->stride_h, sw = p->stride_w;
    int32_t rel[ZOO_MAX_TAPS];
    const int8_t *tap[ZOO_MAX_TAPS];
    int32_t oy, ox, g, t;
    for (t = 0; t < taps; ++t) rel[t] = ((t / p->k_w) * in_w + t % p->k_w) * c;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * sh - p->pad_top;
        for (ox = 0; ox < p->out_w; ++ox, out += c) {
            const int32_t ix0 = ox * sw - p->pad_left;
            if (zoo_window_inside(p, iy0, ix0)) {
                const int8_t *base = in + (iy0 * in_w + ix0) * c;
                for (t = 0; t < taps; ++t) tap[t] = base + rel[t];
            } else {
                dw_taps(p, in, p->pad, iy0, ix0, tap);
            }
            for (g = 0; g < groups; ++g) {
                int32_t acc[4];
                acc[0] = bias[4 * g];
                acc[1] = bias[4 * g + 1];
                acc[2] = bias[4 * g + 2];
                acc[3] = bias[4 * g + 3];
                dw_group4(tap, 4 * g, p->weights16 + 4 * taps * g, taps, acc);
                out[4 * g] = zoo_requant(r, acc[0], 4 * g, fast8);
                out[4 * g + 1] = zoo_requant(r, acc[1], 4 * g + 1, fast8);
                out[4 * g + 2] = zoo_requant(r, acc[2], 4 * g + 2, fast8);
                out[4 * g + 3] = zoo_requant(r, acc[3], 4 * g + 3, fast8);
            }
        }
    }
}

/* Fast path: depth multiplier 1, channels % 4 == 0 (weights16), single-step requantization
 * into the full int8 range. zoo_dwconv_s8 runs any depthwise layer. */
void zoo_dwconv_s8_fast(const zoo_conv_t *p, const int8_t *in, int8_t *out)
{
    zoo_rq_t r;
    zoo_conv_rq(p, &r);
    dw_pixels(p, &r, in, out, 1);
}

void zoo_dwconv_s8(const zoo_conv_t *p, const int8_t *in, int8_t *out)
{
    const int8_t *tap[ZOO_MAX_TAPS];
    int32_t oy, ox;
    zoo_rq_t r;
    zoo_conv_rq(p, &r);
    if (p->weights16 != 0) {
        dw_pixels(p, &r, in, out, 0);
        return;
    }
    for (oy = 0; oy < p->out_h; ++oy) {
        for (ox = 0; ox < p->out_w; ++ox, out += p->out_c) {
            dw_taps(p, in, 0, oy * p->stride_h - p->pad_top, ox * p->stride_w - p->pad_left, tap);
            dw_pixel_generic(p, &r, tap, p->k_h * p->k_w, out);
        }
    }
}

/* 3x3 fast path (depth multiplier 1, channels % 4 == 0, single-step requantization into the
 * full int8 range): one asm loop over the 4-channel groups of an output pixel reads one stream
 * (ZOO_CONV_PACKED, weights16 as int32 words): per group {bias0..3}, 9 taps x {w0|w2, w1|w3},
 * {m, hi, e - 1} x 4 channels (zoo_rq_fast). */
#if ZOO_DSP
void zoo_dw9_groups(const int8_t *const *tap, const int32_t *stream, int8_t *out, const int32_t *end);
#define ZOO_DW9_TAP                                                        \
    "ldr r12, [r0], #4\n\t"                                               \
    "ldr r8, [r12, lr]\n\t"                                               \
    "ldrd r10, r11, [r1], #8\n\t"                                         \
    "sxtb16 r9, r8\n\t"                                                   \
    "sxtb16 r8, r8, ror #8\n\t"                                           \
    "smlabb r4, r9, r10, r4\n\t"                                          \
    "smlatt r6, r9, r10, r6\n\t"                                          \
    "smlabb r5, r8, r11, r5\n\t"                                          \
    "smlatt r7, r8, r11, r7\n\t"
#define ZOO_DW9_RQ(A)                                                      \
    "ldmia r1!, {r8, r9, r10}\n\t"                                         \
    "mov r11, #0x40000000\n\t"                                            \
    "smlal r11, r9, " A ", r8\n\t"                                        \
    "asr r9, r9, r10\n\t"                                                 \
    "ssat r9, #8, r9\n\t"                                                 \
    "strb r9, [r2], #1\n\t"
__asm__(".section .text.zoo_dw9_groups,\"ax\",%progbits\n\t"
        ".align 2\n\t"
        ".global zoo_dw9_groups\n\t"
        ".thumb\n\t"
        ".thumb_func\n\t"
        ".type zoo_dw9_groups, %function\n"
        "zoo_dw9_groups:\n\t"
        "push {r4-r11, lr}\n\t"
        "mov lr, #0\n"
        "1:\n\t"
        "ldmia r1!, {r4, r5, r6, r7}\n\t"
        ZOO_DW9_TAP ZOO_DW9_TAP ZOO_DW9_TAP ZOO_DW9_TAP ZOO_DW9_TAP ZOO_DW9_TAP ZOO_DW9_TAP
        ZOO_DW9_TAP ZOO_DW9_TAP
        ZOO_DW9_RQ("r4") ZOO_DW9_RQ("r5") ZOO_DW9_RQ("r6") ZOO_DW9_RQ("r7")
        "sub r0, r0, #36\n\t"
        "add lr, lr, #4\n\t"
        "cmp r1, r3\n\t"
        "bne 1b\n\t"
        "pop {r4-r11, pc}\n\t"
        ".size zoo_dw9_groups, .-zoo_dw9_groups\n\t"
        ".text");
#else
static void zoo_dw9_groups(const int8_t *const *tap, const int32_t *stream, int8_t *out,
                           const int32_t *end)
{
    int32_t g4;
    for (g4 = 0; stream < end; g4 += 4) {
        int32_t acc[4], j;
        memcpy(acc, stream, sizeof acc);
        dw_group4(tap, g4, (const int16_t *)(const void *)(stream + 4), 9, acc);
        stream += 4 + 18;
        for (j = 0; j < 4; ++j, stream += 3) {
            const int32_t v = zoo_rq_fast(acc[j], stream);
            *out++ = (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
        }
    }
}
#endif

void zoo_dwconv_s8_3x3(const zoo_conv_t *p, const int8_t *in, int8_t *out)
{
    const int32_t c = p->in_c, in_w = p->in_w;
    const int32_t *stream = (const int32_t *)(const void *)p->weights16;
    const int32_t *end = stream + (c / 4) * 34;
    int32_t rel[9];
    const int8_t *tap[9];
    int32_t oy, ox, t;
    for (t = 0; t < 9; ++t) rel[t] = ((t / 3) * in_w + t % 3) * c;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        for (ox = 0; ox < p->out_w; ++ox, out += c) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            if (zoo_window_inside(p, iy0, ix0)) {
                const int8_t *base = in + (iy0 * in_w + ix0) * c;
                for (t = 0; t < 9; ++t) tap[t] = base + rel[t];
            } else {
                dw_taps(p, in, p->pad, iy0, ix0, tap);
            }
            zoo_dw9_groups(tap, stream, out, end);
        }
    }
}
