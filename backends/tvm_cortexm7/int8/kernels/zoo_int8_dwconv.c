/* zoo int8 DEPTHWISE_CONV_2D: 4 channels per inner loop (SMLABB/SMLATT on Cortex-M with
 * the DSP extension), any kernel size, stride, padding and depth multiplier. */
#include "zoo_int8.h"


/* 4 channels (g4 .. g4 + 3) of one output pixel over all taps. `tap` holds each tap's input
 * pixel (the pad row for padding); `w` the int8 weights [tap][c] of the layer, from channel g4
 * (`c` channels per tap), sign-extended on the fly. */
ZOO_INLINE void dw_group4(const int8_t *const *tap, int32_t g4, const int8_t *w, int32_t c,
                          int32_t taps, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t t;
    for (t = 0; t < taps; ++t, w += c) {
#if ZOO_DSP
        const uint32_t x = (uint32_t)zoo_read32(tap[t] + g4), wv = (uint32_t)zoo_read32(w);
        const int32_t xe = (int32_t)__sxtb16(x), xo = zoo_sxtb16_ror8(x);
        const int32_t we = (int32_t)__sxtb16(wv), wo = zoo_sxtb16_ror8(wv);
        a0 = __smlabb(xe, we, a0);
        a2 = __smlatt(xe, we, a2);
        a1 = __smlabb(xo, wo, a1);
        a3 = __smlatt(xo, wo, a3);
#else
        const int8_t *x = tap[t] + g4;
        a0 += x[0] * w[0];
        a1 += x[1] * w[1];
        a2 += x[2] * w[2];
        a3 += x[3] * w[3];
#endif
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* Input pixel of each tap of the window at (iy0, ix0); `pad` where the tap is padding. */
ZOO_SETUP static void dw_taps(const zoo_conv_t *p, const int8_t *in, const int8_t *pad, int32_t iy0,
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
                dw_group4(tap, 4 * g, p->weights + 4 * g, c, taps, acc);
                out[4 * g] = zoo_requant(r, acc[0], 4 * g, fast8);
                out[4 * g + 1] = zoo_requant(r, acc[1], 4 * g + 1, fast8);
                out[4 * g + 2] = zoo_requant(r, acc[2], 4 * g + 2, fast8);
                out[4 * g + 3] = zoo_requant(r, acc[3], 4 * g + 3, fast8);
            }
        }
    }
}

/* Fast path: depth multiplier 1, channels % 4 == 0 (pad set), single-step requantization
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
    if (p->pad != 0) {
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
 * (ZOO_CONV_PACKED, weights as int32 words): per group {bias0..3}, 9 taps x {the int8 weights of
 * the 4 channels}, {m0..m3}, {(e - 1) bytes of the 4 channels} (zoo_rq_mm, `zp2` = 2 zp + 1). */
#define ZOO_DW9_WORDS 18
#if ZOO_DSP
void zoo_dw9_groups(const int8_t *const *tap, const int32_t *stream, int8_t *out, const int32_t *end,
                    int32_t zp2);
#define ZOO_DW9_TAP                                                        \
    "ldr r12, [r0], #4\n\t"                                               \
    "ldr r8, [r12, lr]\n\t"                                               \
    "ldr r10, [r1], #4\n\t"                                               \
    "sxtb16 r9, r8\n\t"                                                   \
    "sxtb16 r8, r8, ror #8\n\t"                                           \
    "sxtb16 r11, r10\n\t"                                                 \
    "sxtb16 r10, r10, ror #8\n\t"                                         \
    "smlabb r4, r9, r11, r4\n\t"                                          \
    "smlatt r6, r9, r11, r6\n\t"                                          \
    "smlabb r5, r8, r10, r5\n\t"                                          \
    "smlatt r7, r8, r10, r7\n\t"
/* r11 = 2 zp + 1, r12 = the group's (e - 1) bytes */
#define ZOO_DW9_RQ(A, BYTE)                                                \
    "ldr r8, [r1], #4\n\t"                                                \
    "ubfx r9, r12, #" BYTE ", #8\n\t"                                     \
    "lsl r10, r11, r9\n\t"                                                \
    "add r9, r9, #1\n\t"                                                  \
    "lsl " A ", " A ", #1\n\t"                                            \
    "smmlar " A ", " A ", r8, r10\n\t"                                    \
    "asr " A ", " A ", r9\n\t"                                            \
    "ssat " A ", #8, " A "\n\t"                                           \
    "strb " A ", [r2], #1\n\t"
__asm__(".section .text.zoo_dw9_groups,\"ax\",%progbits\n\t"
        ".align 2\n\t"
        ".global zoo_dw9_groups\n\t"
        ".thumb\n\t"
        ".thumb_func\n\t"
        ".type zoo_dw9_groups, %function\n"
        "zoo_dw9_groups:\n\t"
        "push {r3, r4-r11, lr}\n\t" /* [sp] end, [sp+40] zp2 */
        "mov lr, #0\n"
        "1:\n\t"
        "ldmia r1!, {r4, r5, r6, r7}\n\t"
        "add r3, r1, #36\n" /* the end of the group's taps (r3, the stream's end, is on the stack) */
        "6:\n\t"
        ZOO_DW9_TAP ZOO_DW9_TAP ZOO_DW9_TAP
        "cmp r1, r3\n\t"
        "bne 6b\n\t"
        "ldr r12, [r1, #16]\n\t"
        "ldr r11, [sp, #40]\n\t"
        ZOO_DW9_RQ("r4", "0") ZOO_DW9_RQ("r5", "8") ZOO_DW9_RQ("r6", "16") ZOO_DW9_RQ("r7", "24")
        "add r1, r1, #4\n\t"
        "sub r0, r0, #36\n\t"
        "add lr, lr, #4\n\t"
        "ldr r3, [sp]\n\t"
        "cmp r1, r3\n\t"
        "bne 1b\n\t"
        "add sp, #4\n\t"
        "pop {r4-r11, pc}\n\t"
        ".size zoo_dw9_groups, .-zoo_dw9_groups\n\t"
        ".text");
#else
static void zoo_dw9_groups(const int8_t *const *tap, const int32_t *stream, int8_t *out,
                           const int32_t *end, int32_t zp2)
{
    int32_t g4;
    for (g4 = 0; stream < end; g4 += 4, stream += ZOO_DW9_WORDS) {
        int32_t acc[4], j;
        memcpy(acc, stream, sizeof acc);
        /* the 9 weight words are [tap][4 channels]: a tap stride of 4 bytes */
        dw_group4(tap, g4, (const int8_t *)(const void *)(stream + 4), 4, 9, acc);
        for (j = 0; j < 4; ++j) {
            const int32_t e1 = (int32_t)(((uint32_t)stream[17] >> (8 * j)) & 0xFFu);
            *out++ = zoo_sat8(zoo_rq_mm(acc[j], stream[13 + j], zoo_rq_mm_c(zp2, e1), e1 + 1));
        }
    }
}
#endif

ZOO_SETUP void zoo_dwconv_s8_3x3(const zoo_conv_t *p, const int8_t *in, int8_t *out)
{
    const int32_t c = p->in_c, in_w = p->in_w, zp2 = 2 * p->out_zp + 1;
    const int32_t *stream = (const int32_t *)(const void *)p->weights;
    const int32_t *end = stream + (c / 4) * ZOO_DW9_WORDS;
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
            zoo_dw9_groups(tap, stream, out, end, zp2);
        }
    }
}
