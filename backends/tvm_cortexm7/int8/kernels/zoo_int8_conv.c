/* zoo int8 CONV_2D: im2col into int16 columns, 2 pixels x 2 output channels per inner
 * loop over int8 weights sign-extended on the fly (hand-scheduled SXTB16 + SMLAD on Cortex-M
 * with the DSP extension). */
#include "zoo_int8.h"


#if !ZOO_DSP
/* Position of tap j (0..3) of a group inside the int16 column: x0, x2, x1, x3,
 * the order __sxtb16 produces. */
static const uint8_t k_pos[4] = {0, 2, 1, 3};
#endif

static inline void put_group(int16_t *col, int32_t word)
{
#if ZOO_DSP
    const int32_t lo = (int32_t)__sxtb16((uint32_t)word);
    const int32_t hi = zoo_sxtb16_ror8((uint32_t)word);
    int32_t *dst = (int32_t *)(void *)col;
    dst[0] = lo;
    dst[1] = hi;
#else
    int j;
    for (j = 0; j < 4; ++j) {
        col[k_pos[j]] = (int8_t)((uint32_t)word >> (8 * j));
    }
#endif
}

/* One im2col column (the window of one output pixel) into every other group slot of
 * `col`: the two columns of a pixel pair are interleaved per group of 4 taps,
 * [g][A x0 x2 x1 x3][B x0 x2 x1 x3]. Padded taps read as the input zero point (the
 * bias carries -in_zp * sum(w)). `rel` holds each tap's offset from the window origin. */
static void build_column(const zoo_conv_t *p, const int8_t *in, int32_t pix, const int32_t *rel,
                         int32_t k, int16_t *col)
{
    const int32_t oy = pix / p->out_w, ox = pix - oy * p->out_w;
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int32_t c = p->in_c, row = p->k_w * c;
    const int32_t zp4 = (int32_t)(0x01010101u * (uint8_t)p->in_zp);
    const int8_t *base = in + (iy0 * p->in_w + ix0) * c;
    int32_t ky, i;
    if ((c & 3) == 0 && ((uintptr_t)in & 3) == 0 && zoo_window_inside(p, iy0, ix0)) {
        for (ky = 0; ky < p->k_h; ++ky, base += p->in_w * c) {
            i = 0;
#if ZOO_DSP
            for (; i + 16 <= row; i += 16, col += 32) { /* 4 groups: 2 LDRD, 8 SXTB16, 4 STRD */
                int32_t a, b, d, e, t;
                __asm__ volatile("ldrd %[a], %[b], [%[s]]\n\t"
                                 "ldrd %[d], %[e], [%[s], #8]\n\t"
                                 "sxtb16 %[t], %[a], ror #8\n\t"
                                 "sxtb16 %[a], %[a]\n\t"
                                 "strd %[a], %[t], [%[o]]\n\t"
                                 "sxtb16 %[t], %[b], ror #8\n\t"
                                 "sxtb16 %[b], %[b]\n\t"
                                 "strd %[b], %[t], [%[o], #16]\n\t"
                                 "sxtb16 %[t], %[d], ror #8\n\t"
                                 "sxtb16 %[d], %[d]\n\t"
                                 "strd %[d], %[t], [%[o], #32]\n\t"
                                 "sxtb16 %[t], %[e], ror #8\n\t"
                                 "sxtb16 %[e], %[e]\n\t"
                                 "strd %[e], %[t], [%[o], #48]\n\t"
                                 : [a] "=&r"(a), [b] "=&r"(b), [d] "=&r"(d), [e] "=&r"(e), [t] "=&r"(t)
                                 : [s] "r"(base + i), [o] "r"(col)
                                 : "memory");
            }
#endif
            for (; i + 8 <= row; i += 8, col += 16) { /* word-aligned: 2 groups per LDRD */
                const int32_t *src = (const int32_t *)(const void *)(base + i);
                const int32_t lo = src[0], hi = src[1];
                put_group(col, lo);
                put_group(col + 8, hi);
            }
            if (i < row) {
                put_group(col, zoo_read32(base + i));
                col += 8;
            }
        }
        return;
    }
    if ((c & 3) == 0) {
        int32_t kx;
        for (ky = 0; ky < p->k_h; ++ky) {
            const int32_t iy = iy0 + ky;
            for (kx = 0; kx < p->k_w; ++kx) {
                const int32_t ix = ix0 + kx;
                const int ok = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w;
                const int8_t *src = in + (iy * p->in_w + ix) * c;
                for (i = 0; i < c; i += 4, col += 8) put_group(col, ok ? zoo_read32(src + i) : zp4);
            }
        }
        return;
    }
    if (rel != 0 && zoo_window_inside(p, iy0, ix0)) { /* any channel count, window inside */
        const uint8_t *b = (const uint8_t *)base;
        for (i = 0; i + 4 <= k; i += 4, col += 8) {
            put_group(col, (int32_t)(b[rel[i]] | (uint32_t)b[rel[i + 1]] << 8 |
                                     (uint32_t)b[rel[i + 2]] << 16 | (uint32_t)b[rel[i + 3]] << 24));
        }
        if (i < k) {
            uint32_t word = 0;
            int32_t j;
            for (j = 0; i + j < k; ++j) word |= (uint32_t)b[rel[i + j]] << (8 * j);
            put_group(col, (int32_t)word);
        }
        return;
    }
    {   /* any channel count, window over the border: gather tap by tap */
        uint32_t word = 0;
        for (i = 0; i < k; ++i) {
            const int32_t t = i / c, ch = i - t * c, ky2 = t / p->k_w, kx2 = t - ky2 * p->k_w;
            const int32_t iy = iy0 + ky2, ix = ix0 + kx2;
            const int32_t x = (iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w)
                                  ? in[(iy * p->in_w + ix) * c + ch] : p->in_zp;
            word |= (uint32_t)(uint8_t)x << (8 * (i & 3));
            if ((i & 3) == 3) {
                put_group(col, (int32_t)word);
                col += 8;
                word = 0;
            }
        }
        if (k & 3) put_group(col, (int32_t)word);
    }}

#if ZOO_DSP
/* Hand-scheduled inner loop (Thumb-2 + DSP): per group of 4 taps, the int8 weights of a channel
 * pair are sign-extended on the fly (4 SXTB16) and feed 2 pixels x 2 output channels = 16 MACs
 * in 8 SMLADs. `n` groups, n >= 1. */
#define ZOO_X_STEP                                                         \
    "smlad %[a0], %[x0], %[t0], %[a0]\n\t"                                \
    "smlad %[a0], %[x1], %[w0], %[a0]\n\t"                                \
    "smlad %[a1], %[x0], %[t1], %[a1]\n\t"                                \
    "smlad %[a1], %[x1], %[w1], %[a1]\n\t"                                \
    "ldrd %[x0], %[x1], [%[px], #-8]\n\t"                                 \
    "smlad %[b0], %[x0], %[t0], %[b0]\n\t"                                \
    "smlad %[b0], %[x1], %[w0], %[b0]\n\t"                                \
    "smlad %[b1], %[x0], %[t1], %[b1]\n\t"                                \
    "smlad %[b1], %[x1], %[w1], %[b1]\n\t"
#define ZOO_W8_GROUP                                                       \
    "ldrd %[w0], %[w1], [%[pw]], #8\n\t"                                  \
    "ldrd %[x0], %[x1], [%[px]], #16\n\t"                                 \
    "sxtb16 %[t0], %[w0]\n\t"                                             \
    "sxtb16 %[w0], %[w0], ror #8\n\t"                                     \
    "sxtb16 %[t1], %[w1]\n\t"                                             \
    "sxtb16 %[w1], %[w1], ror #8\n\t" ZOO_X_STEP
#endif

/* acc[0..3] += (A . w0, A . w1, B . w0, B . w1) over `groups` groups of 4 taps;
 * `cols` holds the interleaved pixel pair, `w` one channel pair's int8 weights. */
ZOO_INLINE void dot_2x2(const int16_t *cols, const int8_t *w, int32_t groups, int32_t *acc)
{
#if ZOO_DSP
    int32_t a0 = acc[0], a1 = acc[1], b0 = acc[2], b1 = acc[3];
    int32_t w0, w1, t0, t1, x0, x1, n = groups;
    const int8_t *pw = w;
    const int16_t *px = cols;
    __asm__ volatile("tst %[n], #1\n\t"
                     "beq 2f\n\t" ZOO_W8_GROUP
                     "2:\n\t"
                     "tst %[n], #2\n\t"
                     "beq 4f\n\t" ZOO_W8_GROUP ZOO_W8_GROUP
                     "4:\n\t"
                     "lsrs %[n], %[n], #2\n\t"
                     "beq 3f\n\t"
                     "1:\n\t" ZOO_W8_GROUP ZOO_W8_GROUP ZOO_W8_GROUP ZOO_W8_GROUP
                     "subs %[n], %[n], #1\n\t"
                     "bne 1b\n\t"
                     "3:\n\t"
                     : [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1),
                       [pw] "+r"(pw), [px] "+r"(px), [n] "+r"(n), [w0] "=&r"(w0),
                       [w1] "=&r"(w1), [t0] "=&r"(t0), [t1] "=&r"(t1), [x0] "=&r"(x0),
                       [x1] "=&r"(x1)
                     :
                     : "cc", "memory");
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = b0;
    acc[3] = b1;
#else
    int32_t g, j;
    for (g = 0; g < groups; ++g, cols += 8) {
        for (j = 0; j < 4; ++j) { /* [ch0 w0..w3][ch1 w0..w3] per group */
            const int32_t k0 = w[8 * g + j], k1 = w[8 * g + 4 + j];
            acc[0] += cols[k_pos[j]] * k0;
            acc[1] += cols[k_pos[j]] * k1;
            acc[2] += cols[4 + k_pos[j]] * k0;
            acc[3] += cols[4 + k_pos[j]] * k1;
        }
    }
#endif
}

/* Any regular convolution (the layer's own requantization and clamp). */
static void conv_pixels(const zoo_conv_t *p, const zoo_rq_t *r, const int8_t *in, int8_t *out,
                        int16_t *scratch, const int32_t *rel)
{
    const int32_t k = p->k_h * p->k_w * p->in_c, groups = (k + 3) / 4;
    const int32_t npix = p->out_h * p->out_w, oc_n = p->out_c;
    const int32_t *bias = p->bias;
    int32_t pix, oc;
    for (pix = 0; pix < npix; pix += 2) {
        const int two = pix + 1 < npix;
        int8_t *out_a = out + pix * oc_n, *out_b = out_a + oc_n;
        const int8_t *w = p->weights;
        build_column(p, in, pix, rel, k, scratch);
        build_column(p, in, two ? pix + 1 : pix, rel, k, scratch + 4);
        for (oc = 0; oc < oc_n; oc += 2, w += 8 * groups) {
            int32_t acc[4];
            acc[0] = acc[2] = bias[oc];
            acc[1] = acc[3] = bias[oc + 1];
            dot_2x2(scratch, w, groups, acc);
            out_a[oc] = zoo_requant(r, acc[0], oc, 0);
            if (two) out_b[oc] = zoo_requant(r, acc[2], oc, 0);
            if (oc + 1 < oc_n) {
                out_a[oc + 1] = zoo_requant(r, acc[1], oc + 1, 0);
                if (two) out_b[oc + 1] = zoo_requant(r, acc[3], oc + 1, 0);
            }
        }
    }
}

/* Offsets of the taps of a window from its origin, for channel counts not divisible by 4
 * (NULL if not needed or too many taps). */
static const int32_t *conv_rel(const zoo_conv_t *p, int32_t *rel)
{
    const int32_t k = p->k_h * p->k_w * p->in_c;
    int32_t i;
    if ((p->in_c & 3) == 0 || k > ZOO_MAX_TAPS) return 0;
    for (i = 0; i < k; ++i) {
        const int32_t t = i / p->in_c, ch = i - t * p->in_c;
        rel[i] = ((t / p->k_w) * p->in_w + t % p->k_w) * p->in_c + ch;
    }
    return rel;
}

/* zoo_conv2d_s8_fast: the whole channel loop of a pixel pair runs in zoo_conv_pairs over one
 * stream per channel pair (ZOO_CONV_PACKED layout, int32 words): {bias0, bias1}, groups x {the
 * int8 weights w0..w3 of channel 0, of channel 1}, {m0, m1, (e0 - 1) | (e1 - 1) << 16} (the
 * model's multipliers, e = -shift; the rounding constant (2 zp + 1) << (e - 1) of zoo_rq_mm is
 * derived, `zp2` = 2 zp + 1). Writes out_a[0..2*pairs) and out_a[delta + 0..2*pairs). */
#if ZOO_DSP
void zoo_conv_pairs(const int16_t *cols, const int32_t *stream, int8_t *out_a, int32_t delta,
                    int32_t groups, const int32_t *end, int32_t zp2);
#define ZOO_PK_X                                                           \
    "ldrd r4, r5, [r12], #16\n\t"                                         \
    "smlad r6, r4, r0, r6\n\t"                                            \
    "smlad r6, r5, r1, r6\n\t"                                            \
    "smlad r8, r4, r2, r8\n\t"                                            \
    "smlad r8, r5, r3, r8\n\t"                                            \
    "ldrd r4, r5, [r12, #-8]\n\t"                                         \
    "smlad r9, r4, r0, r9\n\t"                                            \
    "smlad r9, r5, r1, r9\n\t"                                            \
    "smlad r10, r4, r2, r10\n\t"                                          \
    "smlad r10, r5, r3, r10\n\t"
#define ZOO_PK_W8                                                          \
    "ldrd r1, r3, [r11], #8\n\t"                                          \
    "sxtb16 r0, r1\n\t"                                                   \
    "sxtb16 r1, r1, ror #8\n\t"                                           \
    "sxtb16 r2, r3\n\t"                                                   \
    "sxtb16 r3, r3, ror #8\n\t" ZOO_PK_X
/* one channel: accumulators A (pixel a) and B (pixel b), multiplier M; r3 = e - 1 (by S),
 * r12 = 2 zp + 1, r5 = delta; SMMLAR(2 acc, m, c) >> e is zoo_rq_mm */
#define ZOO_PK_RQ(A, B, M, S)                                              \
    S "\n\t"                                                              \
    "lsl r4, r12, r3\n\t"                                                 \
    "add r3, r3, #1\n\t"                                                  \
    "lsl lr, " A ", #1\n\t"                                               \
    "smmlar lr, lr, " M ", r4\n\t"                                        \
    "asr lr, lr, r3\n\t"                                                  \
    "ssat lr, #8, lr\n\t"                                                 \
    "lsl " A ", " B ", #1\n\t"                                            \
    "smmlar " A ", " A ", " M ", r4\n\t"                                  \
    "asr " A ", " A ", r3\n\t"                                            \
    "ssat " A ", #8, " A "\n\t"                                           \
    "strb " A ", [r7, r5]\n\t"                                            \
    "strb lr, [r7], #1\n\t"
/* r0 cols, r1 stream, r2 out_a, r3 delta; [sp] groups, [sp+4] end, [sp+8] zp2 */
__asm__(".section .text.zoo_conv_pairs,\"ax\",%progbits\n\t"
        ".align 2\n\t"
        ".global zoo_conv_pairs\n\t"
        ".thumb\n\t"
        ".thumb_func\n\t"
        ".type zoo_conv_pairs, %function\n"
        "zoo_conv_pairs:\n\t"
        "push {r0, r3, r4-r11, lr}\n\t" /* [sp] cols, [sp+4] delta, [sp+44] groups, [sp+48] end, [sp+52] zp2 */
        "mov r11, r1\n\t"
        "mov r7, r2\n"
        "5:\n\t"
        "ldmia r11!, {r6, r8}\n\t"
        "mov r9, r6\n\t"
        "mov r10, r8\n\t"
        "ldr r12, [sp]\n\t"
        "ldr lr, [sp, #44]\n\t"
        "tst lr, #1\n\t"
        "beq 2f\n\t" ZOO_PK_W8
        "2:\n\t"
        "tst lr, #2\n\t"
        "beq 4f\n\t" ZOO_PK_W8 ZOO_PK_W8
        "4:\n\t"
        "lsrs lr, lr, #2\n\t"
        "beq 3f\n"
        "1:\n\t" ZOO_PK_W8 ZOO_PK_W8 ZOO_PK_W8 ZOO_PK_W8
        "subs lr, lr, #1\n\t"
        "bne 1b\n"
        "3:\n\t"
        "ldmia r11!, {r0, r1, r2}\n\t"
        "ldr r12, [sp, #52]\n\t"
        "ldr r5, [sp, #4]\n\t"
        ZOO_PK_RQ("r6", "r9", "r0", "uxth r3, r2") ZOO_PK_RQ("r8", "r10", "r1", "lsr r3, r2, #16")
        "ldr r0, [sp, #48]\n\t"
        "cmp r11, r0\n\t"
        "bne 5b\n\t"
        "add sp, #8\n\t"
        "pop {r4-r11, pc}\n\t"
        ".size zoo_conv_pairs, .-zoo_conv_pairs\n\t"
        ".text");
#else
static void zoo_conv_pairs(const int16_t *cols, const int32_t *stream, int8_t *out_a, int32_t delta,
                           int32_t groups, const int32_t *end, int32_t zp2)
{
    while (stream < end) {
        int32_t acc[4], c, j;
        acc[0] = acc[2] = stream[0];
        acc[1] = acc[3] = stream[1];
        dot_2x2(cols, (const int8_t *)(const void *)(stream + 2), groups, acc);
        stream += 2 + 2 * groups;
        for (c = 0; c < 2; ++c) {
            const int32_t e1 = (int32_t)(((uint32_t)stream[2] >> (16 * c)) & 0xFFFFu);
            for (j = 0; j < 2; ++j) {
                out_a[j * delta] = zoo_sat8(zoo_rq_mm(acc[c + 2 * j], stream[c], zoo_rq_mm_c(zp2, e1), e1 + 1));
            }
            ++out_a;
        }
        stream += 3;
    }
}
#endif

/* Pixel pairs: two im2col columns, then the packed channel loop. */
__attribute__((noinline)) static void fast_conv_rel(const zoo_conv_t *p, const int8_t *in, int8_t *out,
                                                    int16_t *scratch, const int32_t *r)
{
    const int32_t k = p->k_h * p->k_w * p->in_c, groups = (k + 3) / 4;
    const int32_t npix = p->out_h * p->out_w, oc = p->out_c;
    const int32_t *stream = (const int32_t *)(const void *)p->weights;
    const int32_t *end = stream + (oc / 2) * (5 + 2 * groups);
    const int32_t zp2 = 2 * p->out_zp + 1;
    int32_t pix;
    for (pix = 0; pix < npix; pix += 2) {
        const int two = pix + 1 < npix;
        build_column(p, in, pix, r, k, scratch);
        build_column(p, in, two ? pix + 1 : pix, r, k, scratch + 4);
        zoo_conv_pairs(scratch, stream, out + pix * oc, two ? oc : 0, groups, end, zp2);
    }
}

/* The tap offsets (conv_rel) live on the stack only for channel counts that need them. */
__attribute__((noinline)) static void fast_conv_gather(const zoo_conv_t *p, const int8_t *in, int8_t *out,
                                                       int16_t *scratch)
{
    int32_t rel[ZOO_MAX_TAPS];
    fast_conv_rel(p, in, out, scratch, conv_rel(p, rel));
}

/* The generator calls zoo_conv2d_s8_fast where it applies (ZOO_CONV_PACKED: single-step
 * requantization into the full int8 range, even out_c); zoo_conv2d_s8 runs any layer. Each is its
 * own function so the linker drops the ones a model does not use. */
void zoo_conv2d_s8_fast(const zoo_conv_t *p, const int8_t *in, int8_t *out, int16_t *scratch)
{
    if ((p->in_c & 3) == 0) {
        fast_conv_rel(p, in, out, scratch, 0);
    } else {
        fast_conv_gather(p, in, out, scratch);
    }
}

void zoo_conv2d_s8(const zoo_conv_t *p, const int8_t *in, int8_t *out, int16_t *scratch)
{
    int32_t rel[ZOO_MAX_TAPS];
    zoo_rq_t r;
    zoo_conv_rq(p, &r);
    conv_pixels(p, &r, in, out, scratch, conv_rel(p, rel));
}

/* Single input channel, at most 9 taps (a first 3x3 convolution on a grey image), single-step
 * requantization into the full int8 range: the window is gathered once per output pixel into
 * int16 registers (x0|x2, x1|x3, x4|x6, x5|x7, x8), then every output channel costs 22
 * instructions. Per channel the layer's `rq` holds 5 words {w0..w3, w4..w7, w8 | (e-1) << 8,
 * bias, m} (the model's int8 weights, zero-padded to 9 taps; bias folded; zoo_rq_mm). */
#if ZOO_DSP
void zoo_c1_channels(const int32_t *x, const int32_t *rec, int8_t *out, const int32_t *end, int32_t zp2);
__asm__(".section .text.zoo_c1_channels,\"ax\",%progbits\n\t"
        ".align 2\n\t"
        ".global zoo_c1_channels\n\t"
        ".thumb\n\t"
        ".thumb_func\n\t"
        ".type zoo_c1_channels, %function\n"
        "zoo_c1_channels:\n\t"
        "push {r4-r11, lr}\n\t" /* [sp+36] zp2 */
        "ldm r0, {r4, r5, r6, r7, r8}\n"
        "1:\n\t"
        "ldmia r1!, {r0, r9, r10, r11, r12}\n\t"
        "sxtb16 lr, r0\n\t"
        "smlad r11, r4, lr, r11\n\t"
        "sxtb16 lr, r0, ror #8\n\t"
        "smlad r11, r5, lr, r11\n\t"
        "sxtb16 lr, r9\n\t"
        "smlad r11, r6, lr, r11\n\t"
        "sxtb16 lr, r9, ror #8\n\t"
        "smlad r11, r7, lr, r11\n\t"
        "sxtb lr, r10\n\t"
        "smlabb r11, r8, lr, r11\n\t"
        "ubfx r10, r10, #8, #8\n\t"
        "ldr r0, [sp, #36]\n\t"
        "lsl r0, r0, r10\n\t"
        "add r10, r10, #1\n\t"
        "lsl r11, r11, #1\n\t"
        "smmlar r11, r11, r12, r0\n\t"
        "asr r11, r11, r10\n\t"
        "ssat r11, #8, r11\n\t"
        "strb r11, [r2], #1\n\t"
        "cmp r1, r3\n\t"
        "bne 1b\n\t"
        "pop {r4-r11, pc}\n\t"
        ".size zoo_c1_channels, .-zoo_c1_channels\n\t"
        ".text");
#else
static void zoo_c1_channels(const int32_t *x, const int32_t *rec, int8_t *out, const int32_t *end, int32_t zp2)
{
    const int16_t *xs = (const int16_t *)(const void *)x; /* slots x0 x2 x1 x3 x4 x6 x5 x7 x8 */
    static const uint8_t slot[9] = {0, 2, 1, 3, 4, 6, 5, 7, 8};
    for (; rec < end; rec += 5) {
        const int8_t *w = (const int8_t *)(const void *)rec;
        const int32_t e1 = (int32_t)(((uint32_t)rec[2] >> 8) & 0xFFu);
        int32_t acc = rec[3], t;
        for (t = 0; t < 9; ++t) acc += xs[slot[t]] * w[t];
        *out++ = zoo_sat8(zoo_rq_mm(acc, rec[4], zoo_rq_mm_c(zp2, e1), e1 + 1));
    }
}
#endif

ZOO_SETUP void zoo_conv2d_s8_c1(const zoo_conv_t *p, const int8_t *in, int8_t *out,
                                                      int16_t *scratch)
{
    int32_t xw[5]; /* slots past a smaller kernel's taps stay 0 (set one by one: no memset linked) */
    int16_t *x = (int16_t *)(void *)xw;
    int32_t rel[9];
    const int32_t kw = p->k_w, taps = p->k_h * kw, in_w = p->in_w, oc = p->out_c;
    const int32_t *end = p->rq + 5 * oc;
    static const uint8_t slot[9] = {0, 2, 1, 3, 4, 6, 5, 7, 8}; /* tap -> its int16 slot (SXTB16 order) */
    int32_t oy, ox, t;
    (void)scratch;
    xw[0] = xw[1] = xw[2] = xw[3] = xw[4] = 0;
    for (t = 0; t < taps; ++t) rel[t] = (t / kw) * in_w + t % kw;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        for (ox = 0; ox < p->out_w; ++ox, out += oc) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            if (zoo_window_inside(p, iy0, ix0)) {
                const int8_t *base = in + iy0 * in_w + ix0;
                for (t = 0; t < taps; ++t) x[slot[t]] = base[rel[t]];
            } else {
                for (t = 0; t < taps; ++t) {
                    const int32_t iy = iy0 + t / kw, ix = ix0 + t % kw;
                    x[slot[t]] = (iy >= 0 && iy < p->in_h && ix >= 0 && ix < in_w) ? in[iy * in_w + ix] : p->in_zp;
                }
            }
            zoo_c1_channels(xw, p->rq, out, end, 2 * p->out_zp + 1);
        }
    }
}
