/* zoo int8 DEPTHWISE_CONV_2D 3x3 (depth multiplier 1, in_c % 4 == 0) and CONV_2D 3x3 of one input
 * channel; column stride 1 or 2, any row stride, at most one padding row on top, single-step
 * requantization into the full int8 range: one output row of one output channel at a time, against a
 * buffer of the input's rows as column pairs.
 *
 * The three input rows of an output row are held, per input channel, as int16 pairs of adjacent columns
 * P[q] = (x[2q] | x[2q + 1]) (columns counted from the first padding column; padding and columns
 * past the input read the input zero point). With the channel's taps of row ky as the pairs
 * W01 = (w0 | w1) and W12 = (w1 | w2), two output pixels cost per row ky
 *   stride 1 (pixels 2b, 2b + 1):  SMLAD(P[b], W01) + P[b + 1].lo * w2,   P[b].hi * w0 + SMLAD(P[b + 1], W12)
 *   stride 2 (pixels 2b, 2b + 1):  SMLAD(P[2b], W01) + P[2b + 1].lo * w2,  SMLAD(P[2b + 1], W01) + P[2b + 2].lo * w2
 * that is 4 multiply instructions for 6 MACs, the six weight pairs held in registers across the row.
 * Each input row is built once per pass (a ring of three rows), for a chunk of the channels at a time
 * (the planner sizes the chunk to what the arena has free at this layer: ZOO_DWROWS_SCRATCH_BYTES);
 * in one pass the output may be the input's memory (each input row is read into the ring before any
 * output row that overlaps it is written: operators/conv2d.py rows_in_place). A convolution of one
 * input channel runs every output channel over that channel's rows.
 *
 * Stream (int8 view of int32 words): {chunk}, then per output channel {bias, m} (the folded bias and
 * the model's multiplier), then per output channel a record of its 9 int8 weights [ky][kx] and e - 1
 * (10 bytes; zoo_rq_mm), padded to whole words. */
#include "zoo_int8.h"

#if ZOO_DSP
#pragma GCC optimize("Os")
#endif

/* One pass (an output row, a chunk of channels) as the asm reads it, at fixed offsets. */
typedef struct {
    const uint32_t *row[3]; /* +0  the chunk's first channel's P[0] in the slots of rows ky = 0, 1, 2 */
    int32_t delta;          /* +12 bytes from a channel's row pointers past its blocks to the next channel's */
    const int32_t *bm;      /* +16 {bias, m} of the next channel */
    const int8_t *w;        /* +20 its record: 9 weights [ky][kx], e - 1 */
    int32_t unused24;       /* +24 (free) */
    int8_t *out;            /* +28 its output at the row's first pixel */
    int32_t oc;             /* +32 output pixel stride (bytes) */
    int32_t nb;             /* +36 blocks of 2 pixels */
    int32_t d_last;         /* +40 where the last block's second pixel goes: oc, or 0 when it is past the row
                             * (stored first, then overwritten by the first) */
    int32_t zp2;            /* +44 2 out_zp + 1 */
    int32_t n;              /* +48 channels left in the pass */
    int32_t span;           /* +52 bytes a channel's row pointers advance over its blocks */
    int32_t stride;         /* +56 1 or 2 */
} zoo_dwrows_t;

/* One input row into a slot, as the asm reads it. */
typedef struct {
    const int8_t *row;   /* +0  column 0 of the row, the chunk's first channel */
    const int8_t *zp;    /* +4  a word of input zero points */
    int32_t c;           /* +8  input pixel stride (bytes) */
    int32_t in_w;        /* +12 input columns; 0 for a padding row */
    int32_t xa;          /* +16 the first column of the next pair (from -pad_left) */
    int32_t S;           /* +20 bytes a channel takes in a slot */
    uint32_t *d;         /* +24 the next pair's word of the chunk's first channel */
    int32_t groups;      /* +28 the chunk's channels / 4 */
    int32_t np;          /* +32 pairs left */
} zoo_dwbuild_t;

#if ZOO_DSP
void zoo_dwrows_channels(zoo_dwrows_t *s);
void zoo_dwrows_build(zoo_dwbuild_t *b);
/* The taps of one row: W01 into WA, W12 into WB (r6, r7 clobbered), from an unaligned word at [r8, #O]. */
#define ZOO_DWR_W(O, WA, WB)                                               \
    "ldr r7, [r8, #" O "]\n\t"                                            \
    "sxtb16 r6, r7\n\t"                                                   \
    "sxtb16 r7, r7, ror #8\n\t"                                           \
    "pkhbt " WA ", r6, r7, lsl #16\n\t"                                    \
    "pkhbt " WB ", r7, r6\n\t"
/* One row of a block (row pointer P, W12 in WB): stride 1 reads P[b], P[b + 1]; stride 2 P[2b .. 2b + 2].
 * MAD / MTB: SMLAD / SMLATB, or for row 0 SMUAD / SMULTB (nothing to clear). */
#define ZOO_DWR_S1(P, WB, MAD, MTB)                                        \
    "ldr r8, [" P "], #4\n\t"                                             \
    MAD "\n\t"                                                            \
    MTB "\n\t"                                                            \
    "ldr r8, [" P "]\n\t"                                                 \
    "smlabt r6, r8, " WB ", r6\n\t"                                       \
    "smlad r7, r8, " WB ", r7\n\t"
#define ZOO_DWR_S2(P, WB, MAD0, MAD1)                                      \
    "ldr r8, [" P "], #8\n\t"                                             \
    MAD0 "\n\t"                                                           \
    "ldr r8, [" P ", #-4]\n\t"                                            \
    "smlabt r6, r8, " WB ", r6\n\t"                                       \
    MAD1 "\n\t"                                                           \
    "ldr r8, [" P "]\n\t"                                                 \
    "smlabt r7, r8, " WB ", r7\n\t"
/* zoo_rq_mm on accumulator A (r1 = 2 bias, r2 = m, r4 = c, r3 = e), saturated */
#define ZOO_DWR_RQ(A)                                                      \
    "add " A ", r1, " A ", lsl #1\n\t"                                    \
    "smmlar " A ", " A ", r2, r4\n\t"                                     \
    "asr " A ", " A ", r3\n\t"                                            \
    "ssat " A ", #8, " A "\n\t"
/* Registers: W01 / W12 of rows 0, 1, 2 in r0 / r1, r2 / r3, r4 / r5; pixels 2b, 2b + 1 in r6, r7; the
 * pair in r8; the rows' pointers r9, r10, r11; r12 the first row's end; lr the pass. Each block's two
 * accumulators are pushed; the requantization pops them, last block first. */
__asm__(".section .text.zoo_dwrows_channels,\"ax\",%progbits\n\t"
        ".align 2\n\t"
        ".global zoo_dwrows_channels\n\t"
        ".thumb\n\t"
        ".thumb_func\n\t"
        ".type zoo_dwrows_channels, %function\n"
        "zoo_dwrows_channels:\n\t"
        "push {r4-r11, lr}\n\t"
        "mov lr, r0\n\t"
        "ldm lr, {r9, r10, r11}\n"
        "1:\n\t"
        "ldr r8, [lr, #20]\n\t"
        ZOO_DWR_W("0", "r0", "r1") ZOO_DWR_W("3", "r2", "r3") ZOO_DWR_W("6", "r4", "r5")
        "ldr r12, [lr, #52]\n\t"
        "add r12, r12, r9\n\t"
        "ldr r8, [lr, #56]\n\t"
        "cmp r8, #1\n\t"
        "bne 3f\n"
        "2:\n\t"
        ZOO_DWR_S1("r9", "r1", "smuad r6, r8, r0", "smultb r7, r8, r0")
        ZOO_DWR_S1("r10", "r3", "smlad r6, r8, r2, r6", "smlatb r7, r8, r2, r7")
        ZOO_DWR_S1("r11", "r5", "smlad r6, r8, r4, r6", "smlatb r7, r8, r4, r7")
        "push {r6, r7}\n\t"
        "cmp r9, r12\n\t"
        "bne 2b\n\t"
        "b 4f\n"
        "3:\n\t"
        ZOO_DWR_S2("r9", "r1", "smuad r6, r8, r0", "smuad r7, r8, r0")
        ZOO_DWR_S2("r10", "r3", "smlad r6, r8, r2, r6", "smlad r7, r8, r2, r7")
        ZOO_DWR_S2("r11", "r5", "smlad r6, r8, r4, r6", "smlad r7, r8, r4, r7")
        "push {r6, r7}\n\t"
        "cmp r9, r12\n\t"
        "bne 3b\n"
        "4:\n\t" /* r1 = 2 bias, r2 = m, r3 = e, r4 = c; r5 = output, r0 = its pixel stride, r12 blocks */
        "ldr r0, [lr, #16]\n\t"
        "ldrd r1, r2, [r0], #8\n\t"
        "str r0, [lr, #16]\n\t"
        "lsl r1, r1, #1\n\t"
        "ldr r0, [lr, #20]\n\t"
        "ldrb r3, [r0, #9]\n\t"
        "add r0, r0, #10\n\t"
        "str r0, [lr, #20]\n\t"
        "ldr r4, [lr, #44]\n\t"
        "lsl r4, r4, r3\n\t"
        "add r3, r3, #1\n\t"
        "ldr r5, [lr, #28]\n\t"
        "add r0, r5, #1\n\t"
        "str r0, [lr, #28]\n\t"
        "ldrd r0, r12, [lr, #32]\n\t"
        "sub r8, r12, #1\n\t"
        "mul r8, r8, r0\n\t"
        "add r5, r5, r8, lsl #1\n\t" /* the last block's first pixel */
        "ldr r8, [lr, #40]\n"
        "5:\n\t"
        "pop {r6, r7}\n\t"
        ZOO_DWR_RQ("r6") ZOO_DWR_RQ("r7")
        "strb r7, [r5, r8]\n\t"
        "strb r6, [r5]\n\t"
        "mov r8, r0\n\t"
        "sub r5, r5, r0, lsl #1\n\t"
        "subs r12, r12, #1\n\t"
        "bne 5b\n\t"
        "ldr r0, [lr, #12]\n\t"
        "add r9, r9, r0\n\t"
        "add r10, r10, r0\n\t"
        "add r11, r11, r0\n\t"
        "ldr r0, [lr, #48]\n\t"
        "subs r0, r0, #1\n\t"
        "str r0, [lr, #48]\n\t"
        "bne 1b\n\t"
        "pop {r4-r11, pc}\n\t"
        ".size zoo_dwrows_channels, .-zoo_dwrows_channels\n\t"
        ".text");
/* Per pair: its two columns' sources a (r0), b (r1) and steps (r4, r5: 4, or 0 for the zero point); per
 * group of 4 channels two words sign-extended and paired into the 4 channels' rows (d, d + S, + 2S, + 3S). */
__asm__(".section .text.zoo_dwrows_build,\"ax\",%progbits\n\t"
        ".align 2\n\t"
        ".global zoo_dwrows_build\n\t"
        ".thumb\n\t"
        ".thumb_func\n\t"
        ".type zoo_dwrows_build, %function\n"
        "zoo_dwrows_build:\n\t"
        "push {r4-r11, lr}\n\t"
        "mov r11, r0\n\t"
        "ldr r3, [r11, #20]\n\t"
        "add r10, r3, r3, lsl #1\n"
        "1:\n\t"
        "ldrd r7, r0, [r11]\n\t"
        "mov r1, r0\n\t"
        "movs r4, #0\n\t"
        "movs r5, #0\n\t"
        "ldrd r6, r8, [r11, #8]\n\t"
        "ldr r9, [r11, #16]\n\t"
        "cmp r9, r8\n\t"
        "bhs 2f\n\t"
        "mla r0, r9, r6, r7\n\t"
        "movs r4, #4\n"
        "2:\n\t"
        "add r12, r9, #1\n\t"
        "cmp r12, r8\n\t"
        "bhs 3f\n\t"
        "mla r1, r12, r6, r7\n\t"
        "movs r5, #4\n"
        "3:\n\t"
        "add r9, r9, #2\n\t"
        "str r9, [r11, #16]\n\t"
        "ldr r2, [r11, #24]\n\t"
        "add r6, r2, #4\n\t"
        "str r6, [r11, #24]\n\t"
        "ldr r6, [r11, #28]\n"
        "4:\n\t"
        "ldr r7, [r0]\n\t"
        "add r0, r0, r4\n\t"
        "ldr r8, [r1]\n\t"
        "add r1, r1, r5\n\t"
        "sxtb16 r12, r7\n\t"
        "sxtb16 r7, r7, ror #8\n\t"
        "sxtb16 r9, r8\n\t"
        "sxtb16 r8, r8, ror #8\n\t"
        "pkhbt lr, r12, r9, lsl #16\n\t"
        "str lr, [r2]\n\t"
        "pkhtb r12, r9, r12, asr #16\n\t"
        "str r12, [r2, r3, lsl #1]\n\t"
        "pkhbt r9, r7, r8, lsl #16\n\t"
        "str r9, [r2, r3]\n\t"
        "pkhtb r7, r8, r7, asr #16\n\t"
        "str r7, [r2, r10]\n\t"
        "add r2, r2, r3, lsl #2\n\t"
        "subs r6, r6, #1\n\t"
        "bne 4b\n\t"
        "ldr r6, [r11, #32]\n\t"
        "subs r6, r6, #1\n\t"
        "str r6, [r11, #32]\n\t"
        "bne 1b\n\t"
        "pop {r4-r11, pc}\n\t"
        ".size zoo_dwrows_build, .-zoo_dwrows_build\n\t"
        ".text");
#else
static void zoo_dwrows_channels(zoo_dwrows_t *s)
{
    const int16_t *x[3];
    int32_t ch, b, j, ky;
    for (ky = 0; ky < 3; ++ky) x[ky] = (const int16_t *)(const void *)s->row[ky]; /* columns from P[0] */
    for (ch = 0; ch < s->n; ++ch) {
        const int8_t *w = s->w + 10 * ch;
        const int32_t bias = s->bm[2 * ch], m = s->bm[2 * ch + 1], e1 = (uint8_t)w[9];
        for (b = 0; b < s->nb; ++b) {
            for (j = 0; j < 2 && !(j == 1 && b + 1 == s->nb && s->d_last == 0); ++j) {
                const int32_t col = (2 * b + j) * s->stride; /* the pixel's first column */
                int32_t acc = bias;
                for (ky = 0; ky < 3; ++ky)
                    acc += x[ky][col] * w[3 * ky] + x[ky][col + 1] * w[3 * ky + 1] + x[ky][col + 2] * w[3 * ky + 2];
                s->out[(2 * b + j) * s->oc + ch] = zoo_sat8(zoo_rq_mm(acc, m, zoo_rq_mm_c(s->zp2, e1), e1 + 1));
            }
        }
        for (ky = 0; ky < 3; ++ky) x[ky] += (s->span + s->delta) / 2; /* the next channel's P[0] */
    }
}

static void zoo_dwrows_build(zoo_dwbuild_t *b)
{
    for (; b->np > 0; --b->np, b->xa += 2, ++b->d) {
        int32_t g, h;
        for (h = 0; h < 2; ++h) { /* column xa + h, int16 half h of every channel's pair word */
            const int32_t x = b->xa + h;
            const int8_t *src = (uint32_t)x < (uint32_t)b->in_w ? b->row + x * b->c : 0;
            for (g = 0; g < 4 * b->groups; ++g) {
                int16_t *d = (int16_t *)(void *)((uint8_t *)b->d + g * b->S);
                d[h] = src != 0 ? src[g] : b->zp[0];
            }
        }
    }
}
#endif

/* One input channel: row `row` (0: a padding row) into P[0 .. np) of its slot. */
static void dwrows_build1(const int8_t *row, int32_t zp, int32_t xa, int32_t in_w, int32_t np, uint32_t *d)
{
    for (; np > 0; --np, xa += 2) {
        const int32_t lo = row != 0 && (uint32_t)xa < (uint32_t)in_w ? row[xa] : zp;
        const int32_t hi = row != 0 && (uint32_t)(xa + 1) < (uint32_t)in_w ? row[xa + 1] : zp;
        int16_t *h = (int16_t *)(void *)d++; /* int16 halves, as the portable channel loop reads them */
        h[0] = (int16_t)lo;
        h[1] = (int16_t)hi;
    }
}

/* `scratch`: ZOO_DWROWS_SCRATCH_BYTES(out_w, stride_w, chunk) bytes, 4-aligned. The three slots are a
 * ring (s.row): for each output row the input rows up to its last are built in turn into the slot of
 * the oldest, so each input row is built once a chunk. A depthwise layer (depth multiplier 1) runs each
 * channel over its own rows; a convolution of one input channel runs every output channel over that
 * channel's rows. */
ZOO_SETUP void zoo_dwconv_s8_rows(const zoo_conv_t *p, const int8_t *in, int8_t *out, int16_t *scratch)
{
    const int32_t *stream = (const int32_t *)(const void *)p->weights;
    const int32_t c = p->in_c, oc = p->out_c, chunk = stream[0], sw = p->stride_w, ow = p->out_w, in_w = p->in_w;
    const int32_t nb = (ow + 1) / 2, np = nb * sw + 1;
    const uint32_t zp4 = 0x01010101u * (uint8_t)p->in_zp;
    zoo_dwrows_t s;
    zoo_dwbuild_t bd;
    int32_t c0, oy;
    s.oc = oc;
    s.nb = nb;
    s.d_last = ow & 1 ? 0 : oc;
    s.zp2 = 2 * p->out_zp + 1;
    s.span = 4 * nb * sw;
    s.stride = sw;
    s.delta = (c == 1 ? 0 : 4 * np) - s.span; /* one input channel: every output channel over the same rows */
    bd.zp = (const int8_t *)&zp4;
    bd.c = c;
    bd.S = 4 * np;
    bd.groups = chunk / 4;
    for (c0 = 0; c0 < c; c0 += chunk) {
        int32_t have = -p->pad_top - 1; /* the last input row built */
        s.row[2] = (uint32_t *)(void *)scratch;
        s.row[0] = s.row[2] + chunk * np;
        s.row[1] = s.row[0] + chunk * np;
        for (oy = 0; oy < p->out_h; ++oy) {
            while (have < oy * p->stride_h - p->pad_top + 2) {
                const uint32_t *oldest = s.row[0];
                s.row[0] = s.row[1];
                s.row[1] = s.row[2];
                s.row[2] = oldest;
                ++have;
                bd.in_w = (uint32_t)have < (uint32_t)p->in_h ? in_w : 0; /* 0: a padding row, all zero points */
                bd.row = in + (bd.in_w ? have * in_w * c : 0) + c0;
                bd.xa = -p->pad_left;
                bd.d = (uint32_t *)(uintptr_t)oldest;
                bd.np = np;
                if (c == 1) {
                    dwrows_build1(bd.in_w ? bd.row : 0, p->in_zp, bd.xa, in_w, np, bd.d);
                } else {
                    zoo_dwrows_build(&bd);
                }
            }
            s.bm = stream + 1 + 2 * c0;
            s.w = (const int8_t *)(const void *)(stream + 1 + 2 * oc) + 10 * c0;
            s.out = out + oy * ow * oc + c0;
            s.n = c == 1 ? oc : chunk;
            zoo_dwrows_channels(&s);
        }
    }
}
