/* zoo int8 CONV_2D, 1x1 kernels (pointwise), in_c % 4 == 0, any stride, no padding: blocks of 4
 * output pixels x 1 output channel. The 4 pixels' inputs are sign-extended once into int16 columns
 * (interleaved per group of 4 channels), then every output channel's int8 weights are read once
 * per block and sign-extended on the fly (2 SXTB16 per 4 weights, shared by the 4 pixels). */
#include "zoo_int8.h"

/* With the DSP the C here is set-up around the asm loops (widening): size before speed; the portable
 * tier (Cortex-M0, the host) runs its loops in C at the build's own -O. */
#if ZOO_DSP
#pragma GCC optimize("Os")
#endif

/* Pixel `pix` (clamped to the last one) into slot j of the block's columns:
 * cols[g][j] = {x0|x2, x1|x3} of channels 4g..4g+3. */
static void widen_pixel(const zoo_conv_t *p, const int8_t *in, int32_t pix, int32_t j, int32_t *cols)
{
    const int32_t npix = p->out_h * p->out_w;
    const int32_t q = pix < npix ? pix : npix - 1;
    const int32_t oy = q / p->out_w, ox = q - oy * p->out_w;
    const int8_t *src = in + (oy * p->stride_h * p->in_w + ox * p->stride_w) * p->in_c;
    int32_t g;
    for (g = 0; g < p->in_c / 4; ++g, src += 4) {
        const uint32_t word = (uint32_t)zoo_read32(src);
#if ZOO_DSP
        cols[8 * g + 2 * j] = (int32_t)__sxtb16(word);
        cols[8 * g + 2 * j + 1] = zoo_sxtb16_ror8(word);
#else
        int16_t *h = (int16_t *)(void *)(cols + 8 * g + 2 * j);
        h[0] = (int8_t)word;
        h[1] = (int8_t)(word >> 16);
        h[2] = (int8_t)(word >> 8);
        h[3] = (int8_t)(word >> 24);
#endif
    }
}

/* One block of 4 pixels through every output channel. `b`: the block's state (read by the asm
 * through fixed offsets: keep the order). */
typedef struct {
    const int32_t *cols;   /* +0  the block's columns */
    int32_t groups;        /* +4  in_c / 4 */
    const int8_t *shift8;  /* +8  e - 1 per channel (advanced by the loop) */
    int32_t zp2;           /* +12 2 zp + 1 */
    int32_t d1, d2, d3;    /* +16 output offsets of pixels 1..3 (a tail block repeats its last pixel) */
    const int32_t *end;    /* +28 end of the stream */
    int32_t m;             /* +32 the channel's multiplier, across the MAC loop */
} zoo_1x1_block_t;

#if ZOO_DSP
void zoo_1x1_channels(zoo_1x1_block_t *b, const int32_t *stream, int8_t *out);
#define ZOO_1X1_GROUP                                                      \
    "ldr r4, [r11], #4\n\t"                                               \
    "ldm r12!, {r0, r1, r2, r3}\n\t"                                      \
    "sxtb16 r5, r4\n\t"                                                   \
    "sxtb16 r4, r4, ror #8\n\t"                                           \
    "smlad r6, r0, r5, r6\n\t"                                            \
    "smlad r6, r1, r4, r6\n\t"                                            \
    "smlad r8, r2, r5, r8\n\t"                                            \
    "smlad r8, r3, r4, r8\n\t"                                            \
    "ldm r12!, {r0, r1, r2, r3}\n\t"                                      \
    "smlad r9, r0, r5, r9\n\t"                                            \
    "smlad r9, r1, r4, r9\n\t"                                            \
    "smlad r10, r2, r5, r10\n\t"                                          \
    "smlad r10, r3, r4, r10\n\t"
/* accumulator A -> int8: SMMLAR(2 A, m = r0, c = r2) >> (e = r1), saturated */
/* r0 b, r1 stream, r2 out */
__asm__(".section .text.zoo_1x1_channels,\"ax\",%progbits\n\t"
        ".align 2\n\t"
        ".global zoo_1x1_channels\n\t"
        ".thumb\n\t"
        ".thumb_func\n\t"
        ".type zoo_1x1_channels, %function\n"
        "zoo_1x1_channels:\n\t"
        "push {r0, r4-r11, lr}\n\t" /* [sp] b */
        "mov r11, r1\n\t"
        "mov r7, r2\n"
        "5:\n\t"
        "ldr r0, [sp]\n\t"
        "ldmia r11!, {r6, r10}\n\t" /* bias, m */
        "str r10, [r0, #32]\n\t"
        "ldr r12, [r0]\n\t"
        "ldr lr, [r0, #4]\n\t"
        "ldr r3, [r0, #8]\n\t"
        "ldrsb r1, [r3]\n\t"     /* < 0: a constant channel, no weights */
        "mov r8, r6\n\t"
        "mov r9, r6\n\t"
        "mov r10, r6\n\t"
        "cmp r1, #0\n\t"
        "blt 3f\n\t"
        "tst lr, #1\n\t"
        "beq 2f\n\t" ZOO_1X1_GROUP
        "2:\n\t"
        "lsrs lr, lr, #1\n\t"
        "beq 3f\n"
        "1:\n\t" ZOO_1X1_GROUP ZOO_1X1_GROUP
        "subs lr, lr, #1\n\t"
        "bne 1b\n"
        "3:\n\t"
        "ldr r12, [sp]\n\t"
        "ldr r3, [r12, #8]\n\t"
        "ldrsb r1, [r3], #1\n\t"
        "str r3, [r12, #8]\n\t"
        "and r1, r1, #31\n\t"     /* e - 1 */
        "ldr r2, [r12, #12]\n\t"
        "lsl r2, r2, r1\n\t"       /* c = (2 zp + 1) << (e - 1) */
        "add r1, r1, #1\n\t"       /* e */
        "ldr r0, [r12, #32]\n\t"   /* m */
        ZOO_MM_RQ_ASM("r6") ZOO_MM_RQ_ASM("r8") ZOO_MM_RQ_ASM("r9") ZOO_MM_RQ_ASM("r10")
        ZOO_STORE4_ASM("16", "24")
        "ldr r0, [r12, #28]\n\t"
        "cmp r11, r0\n\t"
        "bne 5b\n\t"
        "add sp, #4\n\t"
        "pop {r4-r11, pc}\n\t"
        ".size zoo_1x1_channels, .-zoo_1x1_channels\n\t"
        ".text");
#else
static void zoo_1x1_channels(zoo_1x1_block_t *b, const int32_t *stream, int8_t *out)
{
    for (; stream < b->end; ++out) {
        const int32_t groups = *b->shift8 < 0 ? 0 : b->groups, e1 = *b->shift8++ & 31;
        const int32_t c = zoo_rq_mm_c(b->zp2, e1), m = stream[1];
        int32_t acc[4], g, j;
        const int16_t *x = (const int16_t *)(const void *)b->cols;
        acc[0] = acc[1] = acc[2] = acc[3] = stream[0];
        for (g = 0; g < groups; ++g, x += 16) {
            const int8_t *w = (const int8_t *)(const void *)(stream + 2 + g);
            for (j = 0; j < 4; ++j) { /* x0 x2 x1 x3 per pixel against w0 w1 w2 w3 */
                const int16_t *xj = x + 4 * j;
                acc[j] += xj[0] * w[0] + xj[2] * w[1] + xj[1] * w[2] + xj[3] * w[3];
            }
        }
        out[b->d3] = zoo_sat8(zoo_rq_mm(acc[3], m, c, e1 + 1));
        out[b->d2] = zoo_sat8(zoo_rq_mm(acc[2], m, c, e1 + 1));
        out[b->d1] = zoo_sat8(zoo_rq_mm(acc[1], m, c, e1 + 1));
        out[0] = zoo_sat8(zoo_rq_mm(acc[0], m, c, e1 + 1));
        stream += 2 + groups;
    }
}
#endif

/* `p->weights`: per output channel the int32 words {bias, m, the channel's int8 weights} (in_c / 4
 * words, the model's order; none for a channel whose weights are all zero, a constant: its shift8
 * byte has bit 7 set); `p->shift8`: e - 1 per output channel (e = -shift). Every channel's
 * requantization is SMMLAR(2 acc, m, (2 zp + 1) << (e - 1)) >> e, saturated (full int8 range);
 * `scratch`: ZOO_CONV1X1_SCRATCH_BYTES(in_c). */
void zoo_conv2d_s8_1x1(const zoo_conv_t *p, const int8_t *in, int8_t *out, int16_t *scratch)
{
    const int32_t npix = p->out_h * p->out_w, oc_n = p->out_c, groups = p->in_c / 4;
    const int32_t *stream = (const int32_t *)(const void *)p->weights;
    zoo_1x1_block_t b;
    int32_t pix, j;
    b.cols = (const int32_t *)(const void *)scratch;
    b.groups = groups;
    b.zp2 = 2 * p->out_zp + 1;
    b.end = stream;
    for (j = 0; j < oc_n; ++j) b.end += 2 + (p->shift8[j] < 0 ? 0 : groups); /* constant channels: 2 words */
    for (pix = 0; pix < npix; pix += 4) {
        const int32_t last = npix - pix - 1; /* pixels past it repeat it */
        for (j = 0; j < 4; ++j) widen_pixel(p, in, pix + j, j, (int32_t *)(void *)scratch);
        b.d1 = oc_n * (last < 1 ? last : 1);
        b.d2 = oc_n * (last < 2 ? last : 2);
        b.d3 = oc_n * (last < 3 ? last : 3);
        b.shift8 = p->shift8;
        zoo_1x1_channels(&b, stream, out + pix * oc_n);
    }
}
