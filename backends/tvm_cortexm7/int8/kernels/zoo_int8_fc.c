/* zoo int8 FULLY_CONNECTED (TFLM reference_integer_ops::FullyConnected; the input zero point is
 * folded into the bias at compile time).
 *
 * Weight layout (layout.fc_data): when n_in % 4 == 0, output rows in blocks of 4, each block
 * [n_in / 4 groups][4 rows][4 int8 taps], then the n_out % 4 remaining rows as [row][n_in];
 * otherwise [n_out][n_in]. The blocked path first widens the input row into `scratch`
 * (2 * n_in bytes: per 4 inputs the words SXTB16(x), SXTB16(x ror 8)); a block's four dot products
 * then share every input pair: per group of 4 inputs one LDRD of the input, one LDM of the 16
 * weights, eight SXTB16 and eight SMLAD. With MVE (Helium) the raw input is read instead: a VLD4 of
 * 4 groups de-interleaves the block into its 4 rows' 16 consecutive taps, each one VMLADAVA.
 * zoo_fc_s8_exact takes the layers with the exact per-tensor requantization (rqx), n_in % 16 == 0 and
 * n_out % 4 == 0 (the generator calls it for those, so that a model without other layers links none
 * of zoo_fc_s8's other paths): on the DSP the whole layer runs in zoo_fc_blocks (dot products,
 * requantization and stores of every block in one asm loop), with MVE in its blocks and
 * zoo_rq_exact; portable C uses zoo_fc_s8. */
#include "zoo_int8.h"

#if ZOO_MVE
#include <arm_mve.h>
#endif

#if ZOO_DSP && !ZOO_MVE
/* One group of 4 inputs x 4 rows: 16 MACs in 8 SMLAD, 18 instructions. r12 input, r11 weights,
 * r4-r7 the rows' accumulators. */
#define ZOO_FC_GROUP                                                       \
    "ldrd r8, r9, [r12], #8\n\t"                                          \
    "ldmia r11!, {r0, r1, r2, r3}\n\t"                                    \
    "sxtb16 r10, r0, ror #8\n\t"                                          \
    "sxtb16 r0, r0\n\t"                                                   \
    "smlad r4, r8, r0, r4\n\t"                                            \
    "smlad r4, r9, r10, r4\n\t"                                           \
    "sxtb16 r10, r1, ror #8\n\t"                                          \
    "sxtb16 r1, r1\n\t"                                                   \
    "smlad r5, r8, r1, r5\n\t"                                            \
    "smlad r5, r9, r10, r5\n\t"                                           \
    "sxtb16 r10, r2, ror #8\n\t"                                          \
    "sxtb16 r2, r2\n\t"                                                   \
    "smlad r6, r8, r2, r6\n\t"                                            \
    "smlad r6, r9, r10, r6\n\t"                                           \
    "sxtb16 r10, r3, ror #8\n\t"                                          \
    "sxtb16 r3, r3\n\t"                                                   \
    "smlad r7, r8, r3, r7\n\t"                                            \
    "smlad r7, r9, r10, r7\n\t"
/* zoo_rq_exact of accumulator A into [r12], #1: r8 m, r9 c_lo, r0 c_hi, r1 e - 1, r2 0x80000000. */
#define ZOO_FC_RQ(A)                                                       \
    "mov r3, r9\n\t"                                                      \
    "mov r10, r0\n\t"                                                     \
    "smlal r3, r10, " A ", r8\n\t"                                        \
    "lsr lr, " A ", #31\n\t"                                              \
    "smlal r3, r10, lr, r2\n\t"                                           \
    "asr r10, r10, r1\n\t"                                                \
    "ssat r10, #8, r10\n\t"                                               \
    "strb r10, [r12], #1\n\t"
/* Every block of a row: r0 widened input, r1 weights, r2 output, r3 args = {groups / 2, blocks, bias,
 * m, c_lo, c_hi, e - 1} (groups even, >= 2; blocks >= 1; args[1] and args[2] are consumed). Two groups
 * a loop (0.5 instructions per group more than four, 144 B less code). */
void zoo_fc_blocks(const int16_t *xw, const int8_t *w, int8_t *out, int32_t *args);
__asm__(".section .text.zoo_fc_blocks,\"ax\",%progbits\n\t"
        ".align 2\n\t"
        ".global zoo_fc_blocks\n\t"
        ".thumb\n\t"
        ".thumb_func\n\t"
        ".type zoo_fc_blocks, %function\n"
        "zoo_fc_blocks:\n\t"
        "push {r0, r2, r3, r4-r11, lr}\n\t" /* [sp] input, [sp+4] output, [sp+8] args */
        "mov r11, r1\n"
        "1:\n\t"
        "ldr r10, [sp, #8]\n\t"
        "ldr r12, [r10, #8]\n\t"
        "ldmia r12!, {r4, r5, r6, r7}\n\t"
        "str r12, [r10, #8]\n\t"
        "ldr lr, [r10]\n\t"
        "ldr r12, [sp]\n"
        "5:\n\t" ZOO_FC_GROUP ZOO_FC_GROUP
        "subs lr, lr, #1\n\t"
        "bne 5b\n\t"
        "ldr r10, [sp, #8]\n\t"
        "add r10, r10, #12\n\t"
        "ldm r10, {r8, r9}\n\t"
        "ldrd r0, r1, [r10, #8]\n\t"
        "mov r2, #0x80000000\n\t"
        "ldr r12, [sp, #4]\n\t" ZOO_FC_RQ("r4") ZOO_FC_RQ("r5") ZOO_FC_RQ("r6") ZOO_FC_RQ("r7")
        "str r12, [sp, #4]\n\t"
        "ldr r10, [sp, #8]\n\t"
        "ldr lr, [r10, #4]\n\t"
        "subs lr, lr, #1\n\t"
        "str lr, [r10, #4]\n\t"
        "bne 1b\n\t"
        "add sp, #12\n\t"
        "pop {r4-r11, pc}\n\t"
        ".size zoo_fc_blocks, .-zoo_fc_blocks\n\t"
        ".text");

/* acc[0..3] += the block's four dot products over `groups` groups of 4 widened inputs. */
static void dot_block4(const int16_t *x, const int8_t *w, int32_t groups, int32_t *acc)
{
    int32_t g;
    for (g = 0; g < groups; ++g, x += 4) {
        const int32_t x02 = zoo_read32(x), x13 = zoo_read32(x + 2);
        int32_t r;
        for (r = 0; r < 4; ++r, w += 4) {
            const uint32_t k = (uint32_t)zoo_read32(w);
            acc[r] = __smlad(x02, (int32_t)__sxtb16(k), acc[r]);
            acc[r] = __smlad(x13, zoo_sxtb16_ror8(k), acc[r]);
        }
    }
}
#endif

#if !ZOO_MVE
/* The input row as int16 pairs in SXTB16 order (x0 x2, x1 x3 per group of 4). */
static void widen_row(const int8_t *x, int16_t *xw, int32_t groups)
{
    int32_t g;
    for (g = 0; g < groups; ++g, x += 4, xw += 4) {
#if ZOO_DSP
        const uint32_t v = (uint32_t)zoo_read32(x);
        int32_t *dst = (int32_t *)(void *)xw;
        dst[0] = (int32_t)__sxtb16(v);
        dst[1] = zoo_sxtb16_ror8(v);
#else
        xw[0] = x[0];
        xw[1] = x[2];
        xw[2] = x[1];
        xw[3] = x[3];
#endif
    }
}
#endif

#if !ZOO_DSP
/* acc[0..3] += the block's four dot products over `groups` groups of 4 widened inputs. */
static void dot_block4(const int16_t *x, const int8_t *w, int32_t groups, int32_t *acc)
{
    static const uint8_t pos[4] = {0, 2, 1, 3}; /* tap j's slot in the widened group */
    int32_t g, r, j;
    for (g = 0; g < groups; ++g, x += 4, w += 16) {
        for (r = 0; r < 4; ++r) {
            for (j = 0; j < 4; ++j) acc[r] += x[pos[j]] * w[4 * r + j];
        }
    }
}
#endif

#if ZOO_MVE
/* acc[0..3] += the block's four dot products over `groups` groups of 4 raw inputs. */
ZOO_INLINE void dot_block4_mve(const int8_t *x, const int8_t *w, int32_t groups, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], g, r, j;
    for (g = 0; g + 4 <= groups; g += 4, x += 16, w += 64) {
        const int8x16_t xv = vld1q_s8(x);
        const int32x4x4_t rows = vld4q_s32((const int32_t *)(const void *)w); /* val[r]: row r, 16 taps */
        a0 = vmladavaq_s8(a0, xv, vreinterpretq_s8_s32(rows.val[0]));
        a1 = vmladavaq_s8(a1, xv, vreinterpretq_s8_s32(rows.val[1]));
        a2 = vmladavaq_s8(a2, xv, vreinterpretq_s8_s32(rows.val[2]));
        a3 = vmladavaq_s8(a3, xv, vreinterpretq_s8_s32(rows.val[3]));
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    for (; g < groups; ++g, x += 4, w += 16) {
        for (r = 0; r < 4; ++r) {
            for (j = 0; j < 4; ++j) acc[r] += x[j] * w[4 * r + j];
        }
    }
}
#endif

/* One row in the [n_in] layout. */
__attribute__((noinline)) static int32_t dot_row(const int8_t *x, const int8_t *w, int32_t n_in, int32_t acc)
{
    int32_t i = 0;
#if ZOO_MVE
    for (; i + 16 <= n_in; i += 16) acc = vmladavaq_s8(acc, vld1q_s8(x + i), vld1q_s8(w + i));
#elif ZOO_DSP
    for (; i + 4 <= n_in; i += 4) {
        const uint32_t xv = (uint32_t)zoo_read32(x + i), k = (uint32_t)zoo_read32(w + i);
        acc = __smlad((int32_t)__sxtb16(xv), (int32_t)__sxtb16(k), acc);
        acc = __smlad(zoo_sxtb16_ror8(xv), zoo_sxtb16_ror8(k), acc);
    }
#endif
    for (; i < n_in; ++i) acc += x[i] * w[i];
    return acc;
}

/* The requantized output of channel q: exact single step (rqx), single step (rq) or TFLM's. */
static inline int8_t fc_requant(const zoo_fc_t *p, int32_t acc, int32_t q)
{
    int32_t v;
    if (p->rqx != 0) return zoo_sat8(zoo_rq_exact(acc, p->rqx));
    v = p->rq != 0 ? zoo_rq_fast(acc, p->rq + 3 * q) : zoo_mbqm(acc, p->mult[q], p->shift[q]) + p->out_zp;
    return zoo_clamp8(v, p->act_min, p->act_max);
}

/* The blocks of one row, output channels [0, 4 * blocks). */
static void fc_blocks(const zoo_fc_t *p, const int8_t *in, const int16_t *xw, int8_t *out, int32_t blocks)
{
    const int32_t n_in = p->n_in, pc = p->per_channel;
    const int8_t *w = p->weights;
    int32_t o, j;
    for (o = 0; o < 4 * blocks; o += 4, w += 4 * n_in) {
        int32_t acc[4] = {p->bias[o], p->bias[o + 1], p->bias[o + 2], p->bias[o + 3]};
#if ZOO_MVE
        (void)xw;
        dot_block4_mve(in, w, n_in >> 2, acc);
#else
        (void)in;
        dot_block4(xw, w, n_in >> 2, acc);
#endif
        for (j = 0; j < 4; ++j) out[o + j] = fc_requant(p, acc[j], pc ? o + j : 0);
    }
}

void zoo_fc_s8(const zoo_fc_t *p, const int8_t *in, int8_t *out, int16_t *scratch)
{
    const int32_t n_in = p->n_in, n_out = p->n_out, pc = p->per_channel;
    const int32_t blocks = (n_in & 3) == 0 && scratch != 0 ? n_out >> 2 : 0;
    int32_t r, o;
    for (r = 0; r < p->rows; ++r, in += n_in, out += n_out) {
        const int8_t *w = p->weights + 4 * blocks * n_in;
#if !ZOO_MVE
        if (blocks) widen_row(in, scratch, n_in >> 2);
#endif
        fc_blocks(p, in, scratch, out, blocks);
        for (o = 4 * blocks; o < n_out; ++o, w += n_in) out[o] = fc_requant(p, dot_row(in, w, n_in, p->bias[o]), pc ? o : 0);
    }
}

void zoo_fc_s8_exact(const zoo_fc_t *p, const int8_t *in, int8_t *out, int16_t *scratch)
{
#if ZOO_DSP && !ZOO_MVE
    int32_t r;
    for (r = 0; r < p->rows; ++r, in += p->n_in, out += p->n_out) {
        int32_t args[7] = {p->n_in >> 3, p->n_out >> 2, (int32_t)(uintptr_t)p->bias, p->rqx[0], p->rqx[1],
                           p->rqx[2], p->rqx[3]};
        widen_row(in, scratch, p->n_in >> 2);
        zoo_fc_blocks(scratch, p->weights, out, args);
    }
#elif ZOO_MVE
    int32_t r, o, j;
    (void)scratch;
    for (r = 0; r < p->rows; ++r, in += p->n_in) {
        const int8_t *w = p->weights;
        for (o = 0; o < p->n_out; o += 4, w += 4 * p->n_in) {
            int32_t acc[4] = {p->bias[o], p->bias[o + 1], p->bias[o + 2], p->bias[o + 3]};
            dot_block4_mve(in, w, p->n_in >> 2, acc);
            for (j = 0; j < 4; ++j) *out++ = zoo_sat8(zoo_rq_exact(acc[j], p->rqx));
        }
    }
#else
    zoo_fc_s8(p, in, out, scratch);
#endif
}
