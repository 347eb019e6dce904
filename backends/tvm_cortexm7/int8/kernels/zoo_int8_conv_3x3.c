/* zoo int8 CONV_2D, 3x3 kernels with stride 1, in_c % 4 == 0: blocks of 4 output pixels of a row
 * x 1 output channel. The block's 3 x 6 input window ("patch") is sign-extended once into int16
 * pairs, [ky][channel group][position] (a stride-1 window slides along the positions, so each
 * input word is widened once per block, not once per tap); then for every output channel each
 * (ky, group) reads its 3 int8 weight words (kx = 0..2) once, sign-extends them (6 SXTB16) and
 * walks the 6 positions: 24 SMLADs (48 MACs) for 6 loads. A row splits into blocks of 4 and, at its
 * end, of 3 pixels (5 positions, 18 SMLADs) where 4 would compute pixels past it (14 = 4 + 4 + 3 + 3).
 * The asm loop has no register left for
 * a counter: a sentinel word ends the patch, whose first position lives in the block's state
 * instead, so the scratch is exactly the window (36 in_c bytes, the pair kernel's: the planner keeps
 * this kernel only where it does not grow the arena). */
#include "zoo_int8.h"

/* With the DSP the C here is set-up around the asm loops (widening): size before speed; the portable
 * tier (Cortex-M0, the host) runs its loops in C at the build's own -O. */
#if ZOO_DSP
#pragma GCC optimize("Os")
#endif

#define ZOO_PATCH_POS 6        /* 4 pixels + 2 */
#define ZOO_PATCH_END 0x00FF00FF /* sentinel after the patch: no int16 pair of int8 values */

/* One block of 4 pixels through every output channel (the asm reads it at fixed offsets). */
typedef struct {
    const int32_t *patch;  /* +0  from (ky, group) 0's position 1 on */
    int32_t first[2];      /* +4  (ky, group) 0's position 0 */
    const int8_t *shift8;  /* +12 e - 1 per channel (advanced by the loop) */
    int32_t zp2;           /* +16 2 zp + 1 */
    int32_t d1, d2, d3;    /* +20 output offsets of pixels 1..3 (past the row end: the last pixel's,
                            * stored before it) */
    int8_t *out;           /* +32 */
    int32_t pos;           /* +36 positions per (ky, group): 6 (4 pixels) or 5 (3 pixels) */
} zoo_3x3_block_t;

/* Words of position q of (ky, group) block k: b->first for the very first, else in the patch. */
static inline const int32_t *patch_pos(const int32_t *patch, const int32_t *first, int32_t npos, int32_t k,
                                       int32_t q)
{
    return k == 0 && q == 0 ? first : patch + 2 * (npos * k + q) - 2;
}

/* n int8 words read `step` bytes apart from src, sign-extended into int16 pairs (x0|x2, x1|x3) at d
 * on; returns d past them. */
ZOO_INLINE int32_t *widen_words(const int8_t *src, int32_t step, int32_t n, int32_t *d)
{
#if ZOO_DSP
    uint32_t w, t;
    if (n > 0) /* 7 instructions a word */
        __asm__ volatile("1:\n\t"
                         "ldr %[w], [%[s]]\n\t"
                         "add %[s], %[s], %[c]\n\t"
                         "sxtb16 %[t], %[w]\n\t"
                         "sxtb16 %[w], %[w], ror #8\n\t"
                         "subs %[n], %[n], #1\n\t"
                         "strd %[t], %[w], [%[d]], #8\n\t"
                         "bne 1b"
                         : [s] "+r"(src), [d] "+r"(d), [n] "+r"(n), [w] "=&r"(w), [t] "=&r"(t)
                         : [c] "r"(step)
                         : "memory", "cc");
#else
    for (; n > 0; --n, src += step, d += 2) {
        int16_t *h = (int16_t *)(void *)d;
        h[0] = src[0];
        h[1] = src[2];
        h[2] = src[1];
        h[3] = src[3];
    }
#endif
    return d;
}

/* The patch of output row oy = yx >> 16 from column ox0 = yx & 0xFFFF (b->pos positions): padding reads
 * the input zero point. Each (ky, group) is three runs of words: the padding before the input's
 * columns, the positions inside them (`c` bytes apart), the padding after; a padding run reads one
 * word of zero points `zp4` with step 0. Four arguments and not inlined: the convolution's frame is
 * stmnist_v1's stack peak. */
__attribute__((noinline)) static void build_patch(const zoo_conv_t *p, const int8_t *in, zoo_3x3_block_t *b,
                                                  uint32_t yx)
{
    const int32_t iy0 = (int32_t)(yx >> 16) - p->pad_top, ix0 = (int32_t)(yx & 0xFFFFu) - p->pad_left;
    const int32_t npos = b->pos, c = p->in_c, in_w = p->in_w;
    /* the positions inside the input's columns: q0 <= q < q1 */
    const int32_t q0 = ix0 < 0 ? -ix0 : 0, q1 = in_w - ix0 < npos ? in_w - ix0 : npos;
    const uint32_t zp4 = 0x01010101u * (uint8_t)p->in_zp;
    const int8_t *const zp = (const int8_t *)&zp4;
    int32_t *d = (int32_t *)(uintptr_t)b->patch;
    int32_t ky, g, k, skip = 1; /* (ky, group) 0's position 0 goes to b->first */
    for (ky = 0; ky < 3; ++ky) {
        const int32_t iy = iy0 + ky, inside = (uint32_t)iy < (uint32_t)p->in_h;
        const int8_t *row = in + (iy * in_w + ix0 + q0) * c;
        const int32_t left = inside ? q0 : npos, mid = inside ? q1 - q0 : 0;
        for (g = 0; g < c; g += 4) {
            for (k = 0; k < 3; ++k) {
                const int8_t *src = k == 1 ? row + g : zp;
                const int32_t step = k == 1 ? c : 0;
                int32_t n = k == 0 ? left : k == 1 ? mid : npos - left - mid;
                if (skip && n) { /* with the DSP not widen_words: a second copy of its loop is 16 B of flash */
#if ZOO_DSP
                    const uint32_t word = (uint32_t)zoo_read32(src);
                    b->first[0] = (int32_t)__sxtb16(word);
                    b->first[1] = zoo_sxtb16_ror8(word);
#else
                    widen_words(src, 0, 1, b->first);
#endif
                    src += step;
                    --n;
                    skip = 0;
                }
                d = widen_words(src, step, n, d);
            }
        }
    }
}

#if ZOO_DSP
void zoo_3x3_channels(zoo_3x3_block_t *b, const int32_t *stream, const int32_t *end);
/* position q of the (ky, group): (x0|x2, x1|x3) in r7, lr; weights kx = 0, 1, 2 in (r0, r3),
 * (r1, r4), (r2, r5); pixels 0..3 accumulate in r6, r8, r9, r10 */
#define ZOO_3X3_MAC(A, W0, W1) "smlad " A ", r7, " W0 ", " A "\n\t" "smlad " A ", lr, " W1 ", " A "\n\t"
#define ZOO_3X3_LD "ldrd r7, lr, [r12], #8\n\t"
/* one (ky, group) row of weights: three words of int8 taps, sign-extended in pairs into r0-r5 */
#define ZOO_3X3_WEIGHTS                                                    \
    "ldmia r11!, {r0, r1, r2}\n\t"                                         \
    "sxtb16 r3, r0, ror #8\n\t"                                            \
    "sxtb16 r0, r0\n\t"                                                    \
    "sxtb16 r4, r1, ror #8\n\t"                                            \
    "sxtb16 r1, r1\n\t"                                                    \
    "sxtb16 r5, r2, ror #8\n\t"                                            \
    "sxtb16 r2, r2\n\t"
__asm__(".section .text.zoo_3x3_channels,\"ax\",%progbits\n\t"
        ".align 2\n\t"
        ".global zoo_3x3_channels\n\t"
        ".thumb\n\t"
        ".thumb_func\n\t"
        ".type zoo_3x3_channels, %function\n"
        "zoo_3x3_channels:\n\t"
        "push {r0, r1, r2, r4-r11, lr}\n\t" /* [sp] b, [sp+4] the channel's m, [sp+8] end */
        "mov r11, r1\n"
        "5:\n\t"
        "ldr r0, [sp]\n\t"
        "ldmia r11!, {r6, r10}\n\t" /* bias, m */
        "str r10, [sp, #4]\n\t"
        "ldr r12, [r0]\n\t"
        "mov r8, r6\n\t"
        "mov r9, r6\n\t"
        "mov r10, r6\n\t"
        "ldrd r7, lr, [r0, #4]\n\t" /* (ky, group) 0's position 0 */
        "ldr r1, [r0, #36]\n\t"
        "cmp r1, #6\n\t"
        "bne 7f\n"
        "1:\n\t"
        ZOO_3X3_WEIGHTS
        ZOO_3X3_MAC("r6", "r0", "r3") ZOO_3X3_LD
        ZOO_3X3_MAC("r6", "r1", "r4") ZOO_3X3_MAC("r8", "r0", "r3") ZOO_3X3_LD
        ZOO_3X3_MAC("r6", "r2", "r5") ZOO_3X3_MAC("r8", "r1", "r4") ZOO_3X3_MAC("r9", "r0", "r3") ZOO_3X3_LD
        ZOO_3X3_MAC("r8", "r2", "r5") ZOO_3X3_MAC("r9", "r1", "r4") ZOO_3X3_MAC("r10", "r0", "r3") ZOO_3X3_LD
        ZOO_3X3_MAC("r9", "r2", "r5") ZOO_3X3_MAC("r10", "r1", "r4") ZOO_3X3_LD
        ZOO_3X3_MAC("r10", "r2", "r5") ZOO_3X3_LD
        "cmp r7, #0x00FF00FF\n\t"
        "bne 1b\n\t"
        "b 8f\n"
        "7:\n\t" /* 3 pixels, 5 positions */
        ZOO_3X3_WEIGHTS
        ZOO_3X3_MAC("r6", "r0", "r3") ZOO_3X3_LD
        ZOO_3X3_MAC("r6", "r1", "r4") ZOO_3X3_MAC("r8", "r0", "r3") ZOO_3X3_LD
        ZOO_3X3_MAC("r6", "r2", "r5") ZOO_3X3_MAC("r8", "r1", "r4") ZOO_3X3_MAC("r9", "r0", "r3") ZOO_3X3_LD
        ZOO_3X3_MAC("r8", "r2", "r5") ZOO_3X3_MAC("r9", "r1", "r4") ZOO_3X3_LD
        ZOO_3X3_MAC("r9", "r2", "r5") ZOO_3X3_LD
        "cmp r7, #0x00FF00FF\n\t"
        "bne 7b\n"
        "8:\n\t"
        "ldr r12, [sp]\n\t"
        "ldr r3, [r12, #12]\n\t"
        "ldrsb r1, [r3], #1\n\t"   /* e - 1 */
        "str r3, [r12, #12]\n\t"
        "ldr r2, [r12, #16]\n\t"
        "lsl r2, r2, r1\n\t"       /* c = (2 zp + 1) << (e - 1) */
        "add r1, r1, #1\n\t"       /* e */
        "ldr r0, [sp, #4]\n\t"    /* m */
        ZOO_MM_RQ_ASM("r6") ZOO_MM_RQ_ASM("r8") ZOO_MM_RQ_ASM("r9") ZOO_MM_RQ_ASM("r10")
        "ldr r7, [r12, #32]\n\t"       /* out */
        ZOO_STORE4_ASM("20", "28")
        "str r7, [r12, #32]\n\t"
        "ldr r0, [sp, #8]\n\t"
        "cmp r11, r0\n\t"
        "bne 5b\n\t"
        "add sp, #12\n\t"
        "pop {r4-r11, pc}\n\t"
        ".size zoo_3x3_channels, .-zoo_3x3_channels\n\t"
        ".text");
#else
static void zoo_3x3_channels(zoo_3x3_block_t *b, const int32_t *stream, const int32_t *end)
{
    while (stream < end) {
        const int32_t e1 = *b->shift8++, c = zoo_rq_mm_c(b->zp2, e1), m = stream[1];
        int32_t acc[4], j, kx;
        const int32_t *const patch = b->patch;
        const int8_t *w = (const int8_t *)(const void *)(stream + 2);
        int32_t k;
        acc[0] = acc[1] = acc[2] = acc[3] = stream[0];
        /* (ky, group) blocks of b->pos positions until the sentinel, 3 weight words each */
        for (k = 0;; ++k, w += 12) {
            const int16_t *xq[ZOO_PATCH_POS];
            int32_t q;
            if (*patch_pos(patch, b->first, b->pos, k, 0) == ZOO_PATCH_END) break;
            for (q = 0; q < b->pos; ++q) xq[q] = (const int16_t *)(const void *)patch_pos(patch, b->first, b->pos, k, q);
            for (j = 0; j < b->pos - 2; ++j) {
                int32_t a = acc[j];
                for (kx = 0; kx < 3; ++kx) { /* x0 x2 x1 x3 against w0 w1 w2 w3 */
                    const int16_t *x = xq[j + kx];
                    const int8_t *wk = w + 4 * kx;
                    a += x[0] * wk[0] + x[2] * wk[1] + x[1] * wk[2] + x[3] * wk[3];
                }
                acc[j] = a;
            }
        }
        stream = (const int32_t *)(const void *)w;
        b->out[b->d3] = zoo_sat8(zoo_rq_mm(acc[3], m, c, e1 + 1));
        b->out[b->d2] = zoo_sat8(zoo_rq_mm(acc[2], m, c, e1 + 1));
        b->out[b->d1] = zoo_sat8(zoo_rq_mm(acc[1], m, c, e1 + 1));
        *b->out++ = zoo_sat8(zoo_rq_mm(acc[0], m, c, e1 + 1));
    }
}
#endif

/* `p->weights`: per output channel the int32 words {bias, m, the channel's int8 weights as
 * [ky][group of 4 channels][kx]}; `p->shift8`: e - 1 per output channel (e = -shift); every
 * channel's requantization is SMMLAR(2 acc, m, (2 zp + 1) << (e - 1)) >> e, saturated (full int8
 * range); `scratch`: ZOO_CONV3X3_SCRATCH_BYTES(in_c). */
void zoo_conv2d_s8_3x3(const zoo_conv_t *p, const int8_t *in, int8_t *out, int16_t *scratch)
{
    const int32_t oc_n = p->out_c, groups = p->in_c / 4, ow = p->out_w;
    const int32_t *stream = (const int32_t *)(const void *)p->weights;
    int32_t *patch = (int32_t *)(void *)scratch;
    zoo_3x3_block_t b;
    int32_t oy, ox;
    b.patch = patch;
    b.zp2 = 2 * p->out_zp + 1;
    for (oy = 0; oy < p->out_h; ++oy) {
        for (ox = 0; ox < ow; ox += b.pos - 2) {
            const int32_t left = ow - ox, last = left - 1; /* pixels past the row end write the last one first */
            b.pos = left % 4 == 0 || left >= 7 ? ZOO_PATCH_POS : ZOO_PATCH_POS - 1; /* 14 = 4 + 4 + 3 + 3 */
            build_patch(p, in, &b, (uint32_t)oy << 16 | (uint32_t)ox);
            patch[2 * 3 * groups * b.pos - 2] = ZOO_PATCH_END;
            b.d1 = oc_n * (last < 1 ? last : 1);
            b.d2 = oc_n * (last < 2 ? last : 2);
            b.d3 = oc_n * (last < 3 ? last : 3);
            b.shift8 = p->shift8;
            b.out = out + (oy * ow + ox) * oc_n;
            zoo_3x3_channels(&b, stream, stream + (2 + 9 * groups) * oc_n);
        }
    }
}
