/* zoo int8 FULLY_CONNECTED (TFLM reference_integer_ops::FullyConnected; the input zero point is
 * folded into the bias at compile time).
 *
 * Weight layout (layout.fc_data): when n_in % 4 == 0, output rows in blocks of 4, each block
 * [n_in / 4 groups][4 rows][4 int8 taps], then the n_out % 4 remaining rows as [row][n_in];
 * otherwise [n_out][n_in]. The blocked path first widens the input row into `scratch`
 * (2 * n_in bytes: per 4 inputs the words SXTB16(x), SXTB16(x ror 8)); a block's four dot products
 * then share every input pair: per 4 inputs one LDRD of the input, then per two rows one LDRD,
 * four SXTB16 and four SMLAD of the weights. With MVE (Helium) the raw input is read instead: a VLD4
 * of 4 groups de-interleaves the block into its 4 rows' 16 consecutive taps, each one VMLADAVA. */
#include "zoo_int8.h"

#if ZOO_MVE
#include <arm_mve.h>
#endif

#if ZOO_DSP
/* One group of 4 inputs x 4 rows: 16 MACs in 8 SMLAD, 19 instructions. */
#define ZOO_FC_GROUP                                                       \
    "ldrd %[x0], %[x1], [%[px]], #8\n\t"                                 \
    "ldrd %[w0], %[w1], [%[pw]], #8\n\t"                                  \
    "sxtb16 %[t], %[w0], ror #8\n\t"                                      \
    "sxtb16 %[w0], %[w0]\n\t"                                             \
    "smlad %[a0], %[x0], %[w0], %[a0]\n\t"                                \
    "smlad %[a0], %[x1], %[t], %[a0]\n\t"                                 \
    "sxtb16 %[t], %[w1], ror #8\n\t"                                      \
    "sxtb16 %[w1], %[w1]\n\t"                                             \
    "smlad %[a1], %[x0], %[w1], %[a1]\n\t"                                \
    "smlad %[a1], %[x1], %[t], %[a1]\n\t"                                 \
    "ldrd %[w0], %[w1], [%[pw]], #8\n\t"                                  \
    "sxtb16 %[t], %[w0], ror #8\n\t"                                      \
    "sxtb16 %[w0], %[w0]\n\t"                                             \
    "smlad %[a2], %[x0], %[w0], %[a2]\n\t"                                \
    "smlad %[a2], %[x1], %[t], %[a2]\n\t"                                 \
    "sxtb16 %[t], %[w1], ror #8\n\t"                                      \
    "sxtb16 %[w1], %[w1]\n\t"                                             \
    "smlad %[a3], %[x0], %[w1], %[a3]\n\t"                                \
    "smlad %[a3], %[x1], %[t], %[a3]\n\t"
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

/* acc[0..3] += the block's four dot products over `groups` groups of 4 widened inputs. */
__attribute__((noinline)) static void dot_block4(const int16_t *x, const int8_t *w, int32_t groups, int32_t *acc)
{
#if ZOO_DSP
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t x0, x1, w0, w1, t, n = groups >> 1;
    if (groups & 1) {
        __asm__ volatile(ZOO_FC_GROUP
                         : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [px] "+r"(x),
                           [pw] "+r"(w), [x0] "=&r"(x0), [x1] "=&r"(x1), [w0] "=&r"(w0),
                           [w1] "=&r"(w1), [t] "=&r"(t)
                         :
                         : "memory");
    }
    if (n) {
        __asm__ volatile("1:\n\t" ZOO_FC_GROUP ZOO_FC_GROUP
                         "subs %[n], %[n], #1\n\t"
                         "bne 1b\n\t"
                         : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [px] "+r"(x),
                           [pw] "+r"(w), [n] "+r"(n), [x0] "=&r"(x0), [x1] "=&r"(x1), [w0] "=&r"(w0),
                           [w1] "=&r"(w1), [t] "=&r"(t)
                         :
                         : "memory", "cc");
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
#else
    static const uint8_t pos[4] = {0, 2, 1, 3}; /* tap j's slot in the widened group */
    int32_t g, r, j;
    for (g = 0; g < groups; ++g, x += 4, w += 16) {
        for (r = 0; r < 4; ++r) {
            for (j = 0; j < 4; ++j) acc[r] += x[pos[j]] * w[4 * r + j];
        }
    }
#endif
}
#endif

#if ZOO_MVE
/* acc[0..3] += the block's four dot products over `groups` groups of 4 raw inputs. */
static void dot_block4_mve(const int8_t *x, const int8_t *w, int32_t groups, int32_t *acc)
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
#if ZOO_DSP
    for (; i + 4 <= n_in; i += 4) {
        const uint32_t xv = (uint32_t)zoo_read32(x + i), k = (uint32_t)zoo_read32(w + i);
        acc = __smlad((int32_t)__sxtb16(xv), (int32_t)__sxtb16(k), acc);
        acc = __smlad(zoo_sxtb16_ror8(xv), zoo_sxtb16_ror8(k), acc);
    }
#endif
    for (; i < n_in; ++i) acc += x[i] * w[i];
    return acc;
}

/* The requantized output of channel q: single step (rq, 3 words per channel) or TFLM's. */
static inline int8_t fc_requant(int32_t acc, int32_t q, const int32_t *rq, const int32_t *mult,
                                const int32_t *shift, int32_t out_zp, int32_t lo, int32_t hi)
{
    const int32_t v = rq != 0 ? zoo_rq_fast(acc, rq + 3 * q) : zoo_mbqm(acc, mult[q], shift[q]) + out_zp;
    return zoo_clamp8(v, lo, hi);
}

void zoo_fc_s8(const zoo_fc_t *p, const int8_t *in, int8_t *out, int16_t *scratch)
{
    const int32_t n_in = p->n_in, n_out = p->n_out, pc = p->per_channel;
    const int32_t blocks = (n_in & 3) == 0 && scratch != 0 ? n_out >> 2 : 0;
    /* one single-step requantization into the full int8 range: hoisted out of the channels */
    const int fast = p->rq != 0 && !pc && p->act_min == -128 && p->act_max == 127;
    int32_t r, o, j;
    for (r = 0; r < p->rows; ++r, in += n_in, out += n_out) {
        const int8_t *w = p->weights;
#if !ZOO_MVE
        if (blocks) widen_row(in, scratch, n_in >> 2);
#endif
        for (o = 0; o < 4 * blocks; o += 4, w += 4 * n_in) {
            int32_t acc[4] = {p->bias[o], p->bias[o + 1], p->bias[o + 2], p->bias[o + 3]};
#if ZOO_MVE
            dot_block4_mve(in, w, n_in >> 2, acc);
#else
            dot_block4(scratch, w, n_in >> 2, acc);
#endif
            if (fast) {
                for (j = 0; j < 4; ++j) out[o + j] = zoo_sat8(zoo_rq_fast(acc[j], p->rq));
                continue;
            }
            for (j = 0; j < 4; ++j) {
                out[o + j] = fc_requant(acc[j], pc ? o + j : 0, p->rq, p->mult, p->shift, p->out_zp,
                                        p->act_min, p->act_max);
            }
        }
        for (; o < n_out; ++o, w += n_in) {
            out[o] = fc_requant(dot_row(in, w, n_in, p->bias[o]), pc ? o : 0, p->rq, p->mult, p->shift,
                                p->out_zp, p->act_min, p->act_max);
        }
    }
}
