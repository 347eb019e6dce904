/* zoo int8 CONV_2D: im2col into int16 columns, 2 pixels x 2 output channels per inner
 * loop (hand-scheduled SMLAD on Cortex-M with the DSP extension). */
#include "zoo_int8.h"

#define ZOO_MAX_TAPS 64 /* kernel taps held in per-call offset tables */

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
            for (i = 0; i + 8 <= row; i += 8, col += 16) { /* word-aligned: 2 groups per LDRD */
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
/* Hand-scheduled inner loops (Thumb-2 + DSP): per group of 4 taps, 2 pixels x 2 output
 * channels = 16 MACs in 8 SMLADs. `n` groups, n >= 1. */
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
#define ZOO_W16_GROUP                                                      \
    "ldrd %[t0], %[w0], [%[pw]], #16\n\t"                                 \
    "ldrd %[t1], %[w1], [%[pw], #-8]\n\t"                                 \
    "ldrd %[x0], %[x1], [%[px]], #16\n\t" ZOO_X_STEP
/* groups % 4 single groups first, then 4 per loop iteration */
#define ZOO_GEMM_ASM(GROUP)                                                \
    __asm__ volatile("tst %[n], #1\n\t"                                    \
                     "beq 2f\n\t" GROUP                                    \
                     "2:\n\t"                                              \
                     "tst %[n], #2\n\t"                                    \
                     "beq 4f\n\t" GROUP GROUP                              \
                     "4:\n\t"                                              \
                     "lsrs %[n], %[n], #2\n\t"                             \
                     "beq 3f\n\t"                                          \
                     "1:\n\t" GROUP GROUP GROUP GROUP                      \
                     "subs %[n], %[n], #1\n\t"                             \
                     "bne 1b\n\t"                                          \
                     "3:\n\t"                                              \
                     : [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), \
                       [pw] "+r"(pw), [px] "+r"(px), [n] "+r"(n), [w0] "=&r"(w0), \
                       [w1] "=&r"(w1), [t0] "=&r"(t0), [t1] "=&r"(t1), [x0] "=&r"(x0), \
                       [x1] "=&r"(x1)                                      \
                     :                                                     \
                     : "cc", "memory")
#endif

/* acc[0..3] += (A . w0, A . w1, B . w0, B . w1) over `groups` groups of 4 taps;
 * `cols` holds the interleaved pixel pair, `w` one channel pair (int8 or int16). */
ZOO_INLINE void dot_2x2(const int16_t *cols, const void *w, int32_t groups, int wide, int32_t *acc)
{
#if ZOO_DSP
    int32_t a0 = acc[0], a1 = acc[1], b0 = acc[2], b1 = acc[3];
    int32_t w0, w1, t0, t1, x0, x1, n = groups;
    const void *pw = w;
    const int16_t *px = cols;
    if (wide) {
        /* int16 weights: one LDM fetches both channels' 4 weight pairs of a group, so the
         * registers are pinned (LDM fills registers in ascending order). */
        register int32_t r_t0 __asm__("r0"), r_w0 __asm__("r1"), r_t1 __asm__("r2"),
            r_w1 __asm__("r3"), r_x0 __asm__("r4"), r_x1 __asm__("r5");
        register int32_t r_a0 __asm__("r6") = a0, r_a1 __asm__("r8") = a1;
        register int32_t r_b0 __asm__("r9") = b0, r_b1 __asm__("r10") = b1;
        register const void *r_pw __asm__("r11") = pw;
        register const int16_t *r_px __asm__("r12") = px;
        register int32_t r_n __asm__("lr") = n;
        __asm__ volatile(
#define ZOO_LDM_GROUP                                                      \
    "ldmia %[pw]!, {r0, r1, r2, r3}\n\t"                                   \
    "ldrd %[x0], %[x1], [%[px]], #16\n\t" ZOO_X_STEP
            "tst %[n], #1\n\t"
            "beq 2f\n\t" ZOO_LDM_GROUP
            "2:\n\t"
            "tst %[n], #2\n\t"
            "beq 4f\n\t" ZOO_LDM_GROUP ZOO_LDM_GROUP
            "4:\n\t"
            "lsrs %[n], %[n], #2\n\t"
            "beq 3f\n\t"
            "1:\n\t" ZOO_LDM_GROUP ZOO_LDM_GROUP ZOO_LDM_GROUP ZOO_LDM_GROUP
            "subs %[n], %[n], #1\n\t"
            "bne 1b\n\t"
            "3:\n\t"
            : [a0] "+r"(r_a0), [a1] "+r"(r_a1), [b0] "+r"(r_b0), [b1] "+r"(r_b1), [pw] "+r"(r_pw),
              [px] "+r"(r_px), [n] "+r"(r_n), [t0] "=&r"(r_t0), [w0] "=&r"(r_w0), [t1] "=&r"(r_t1),
              [w1] "=&r"(r_w1), [x0] "=&r"(r_x0), [x1] "=&r"(r_x1)
            :
            : "cc", "memory");
        a0 = r_a0;
        a1 = r_a1;
        b0 = r_b0;
        b1 = r_b1;
    } else {
        ZOO_GEMM_ASM(ZOO_W8_GROUP);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = b0;
    acc[3] = b1;
#else
    int32_t g, j;
    const int8_t *w8 = (const int8_t *)w;
    const int16_t *w16 = (const int16_t *)w;
    for (g = 0; g < groups; ++g, cols += 8) {
        for (j = 0; j < 4; ++j) {
            /* int8: [ch0 w0..w3][ch1 w0..w3]; int16: [ch0 w0 w2 w1 w3][ch1 ...] */
            const int32_t k0 = wide ? w16[8 * g + k_pos[j]] : w8[8 * g + j];
            const int32_t k1 = wide ? w16[8 * g + 4 + k_pos[j]] : w8[8 * g + 4 + j];
            acc[0] += cols[k_pos[j]] * k0;
            acc[1] += cols[k_pos[j]] * k1;
            acc[2] += cols[4 + k_pos[j]] * k0;
            acc[3] += cols[4 + k_pos[j]] * k1;
        }
    }
#endif
}

/* Both pixels of a pair, one channel, single-step requantization: the channel's
 * constants are loaded once. */
ZOO_INLINE void store_pair_fast(const int32_t *q, int32_t acc_a, int32_t acc_b, int8_t *pa,
                                int8_t *pb)
{
    const int64_t off = (int64_t)(((uint64_t)(uint32_t)q[1] << 32) | (1u << 30));
    const int32_t m = q[0], sh = q[2];
    const int32_t va = (int32_t)(((int64_t)acc_a * m + off) >> 32) >> sh;
    const int32_t vb = (int32_t)(((int64_t)acc_b * m + off) >> 32) >> sh;
#if ZOO_DSP
    *pa = (int8_t)__ssat(va, 8);
    *pb = (int8_t)__ssat(vb, 8);
#else
    *pa = (int8_t)(va < -128 ? -128 : (va > 127 ? 127 : va));
    *pb = (int8_t)(vb < -128 ? -128 : (vb > 127 ? 127 : vb));
#endif
}

ZOO_INLINE void conv_pixels(const zoo_conv_t *p, const zoo_rq_t *r, const int8_t *in, int8_t *out,
                            int16_t *scratch, const int32_t *rel, int fast8, int wide)
{
    const int32_t k = p->k_h * p->k_w * p->in_c, groups = (k + 3) / 4;
    const int32_t npix = p->out_h * p->out_w, oc_n = p->out_c;
    const int32_t pair_bytes = 8 * groups * (wide ? 2 : 1);
    const uint8_t *w0 = wide ? (const uint8_t *)p->weights16 : (const uint8_t *)p->weights;
    const int32_t *bias = p->bias;
    int32_t pix, oc;
    for (pix = 0; pix < npix; pix += 2) {
        const int two = pix + 1 < npix;
        int8_t *out_a = out + pix * oc_n, *out_b = out_a + oc_n;
        const uint8_t *w = w0;
        build_column(p, in, pix, rel, k, scratch);
        build_column(p, in, two ? pix + 1 : pix, rel, k, scratch + 4);
        for (oc = 0; oc < oc_n; oc += 2, w += pair_bytes) {
            int32_t acc[4];
            acc[0] = acc[2] = bias[oc];
            acc[1] = acc[3] = bias[oc + 1];
            dot_2x2(scratch, w, groups, wide, acc);
            if (fast8 && two && oc + 1 < oc_n) {
                store_pair_fast(r->rq + 3 * oc, acc[0], acc[2], out_a + oc, out_b + oc);
                store_pair_fast(r->rq + 3 * oc + 3, acc[1], acc[3], out_a + oc + 1, out_b + oc + 1);
                continue;
            }
            out_a[oc] = zoo_requant(r, acc[0], oc, 1, fast8);
            if (two) out_b[oc] = zoo_requant(r, acc[2], oc, 1, fast8);
            if (oc + 1 < oc_n) {
                out_a[oc + 1] = zoo_requant(r, acc[1], oc + 1, 1, fast8);
                if (two) out_b[oc + 1] = zoo_requant(r, acc[3], oc + 1, 1, fast8);
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

/* The generator calls the specialised entry points where they apply (single-step
 * requantization into the full int8 range, int16 or int8 weights); zoo_conv2d_s8 runs any
 * layer. Each is its own function so the linker drops the ones a model does not use. */
void zoo_conv2d_s8_fast_w16(const zoo_conv_t *p, const int8_t *in, int8_t *out, int16_t *scratch)
{
    int32_t rel[ZOO_MAX_TAPS];
    zoo_rq_t r;
    zoo_conv_rq(p, &r);
    conv_pixels(p, &r, in, out, scratch, conv_rel(p, rel), 1, 1);
}

void zoo_conv2d_s8_fast_w8(const zoo_conv_t *p, const int8_t *in, int8_t *out, int16_t *scratch)
{
    int32_t rel[ZOO_MAX_TAPS];
    zoo_rq_t r;
    zoo_conv_rq(p, &r);
    conv_pixels(p, &r, in, out, scratch, conv_rel(p, rel), 1, 0);
}

void zoo_conv2d_s8(const zoo_conv_t *p, const int8_t *in, int8_t *out, int16_t *scratch)
{
    int32_t rel[ZOO_MAX_TAPS];
    zoo_rq_t r;
    zoo_conv_rq(p, &r);
    conv_pixels(p, &r, in, out, scratch, conv_rel(p, rel), 0, (p->flags & ZOO_CONV_W16) != 0);
}
