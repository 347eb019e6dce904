/* zoo int8 SOFTMAX, int8 output of scale 1/256 and zero point -128: TFLM's integer reference
 * (tensorflow/lite/kernels/internal/reference/softmax.h at tflite-micro 90b983c2, which CMSIS-NN's
 * arm_softmax_s8 reproduces): input differences scaled to Q5.26, exp in gemmlowp fixed point
 * (gemmlowp/fixedpoint/fixedpoint.h: exp_on_negative_values, one_over_one_plus_x_for_x_in_0_1),
 * sum in Q12.19, reciprocal, rounded division by a power of two. */
#include "zoo_int8.h"

/* Cold (one call per inference, over one small tensor): size before speed, whatever the build's -O. */
#pragma GCC optimize("Os")

#define ZOO_ACCUM_BITS 12 /* kAccumulationIntegerBits */

/* gemmlowp SaturatingRoundingMultiplyByPOT with a positive exponent */
static int32_t mul_pot_sat(int32_t x, int32_t e)
{
    const int32_t thr = (int32_t)((1u << (31 - e)) - 1u);
    if (x > thr) return INT32_MAX;
    if (x < -thr) return INT32_MIN;
    return (int32_t)((uint32_t)x << e);
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out: Taylor series around -1/8 */
static int32_t exp_quarter(int32_t a)
{
    const int32_t exp_minus_eighth = 1895147668; /* exp(-1/8) in Q0.31 */
    const int32_t one_third = 715827883;         /* 1/3 in Q0.31 */
    const int32_t x = a + (1 << 28);             /* a + 1/8 */
    const int32_t x2 = zoo_srdhm(x, x);
    const int32_t x3 = zoo_srdhm(x2, x);
    const int32_t x4 = zoo_srdhm(x2, x2);
    const int32_t x4_over_4 = zoo_rdbpot(x4, 2);
    const int32_t poly = zoo_rdbpot(zoo_srdhm(x4_over_4 + x3, one_third) + x2, 1);
    return exp_minus_eighth + zoo_srdhm(exp_minus_eighth, x + poly);
}

/* exp(a) for a <= 0 in Q5.26, result in Q0.31 */
static int32_t exp_negative(int32_t a)
{
    /* exp(-2^k) in Q0.31 for k = -2 .. 4 */
    static const int32_t factors[7] = {1672461947, 1302514674, 790015084, 290630308,
                                       39332535, 720401, 242};
    const int32_t quarter = 1 << 24; /* 1/4 in Q5.26 */
    const int32_t mod = (a & (quarter - 1)) - quarter;
    const int32_t rest = mod - a;
    int32_t result = exp_quarter((int32_t)((uint32_t)mod << 5)); /* Q5.26 -> Q0.31, exact here */
    int32_t k;
    for (k = 0; k < 7; ++k) {
        if (rest & (1 << (24 + k))) result = zoo_srdhm(result, factors[k]);
    }
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + x) for x in [0, 1), Q0.31 in and out: Newton-Raphson on 48/17 - 32/17 d */
static int32_t reciprocal_one_plus(int32_t a)
{
    const int64_t sum = (int64_t)a + INT32_MAX;
    const int32_t half_d = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2); /* RoundingHalfSum */
    const int32_t one_q2 = 1 << 29;
    int32_t x = 1515870810 + zoo_srdhm(half_d, -1010580540); /* 48/17 - 32/17 d, Q2.29 */
    int32_t i;
    for (i = 0; i < 3; ++i) {
        const int32_t err = one_q2 - zoo_srdhm(half_d, x);
        x += mul_pot_sat(zoo_srdhm(x, err), 2);
    }
    return mul_pot_sat(x, 1);
}

static int32_t clz32(uint32_t v)
{
    int32_t n = 0;
    if (v == 0) return 32;
    while (!(v & 0x80000000u)) {
        v <<= 1;
        ++n;
    }
    return n;
}

void zoo_softmax_s8(const int8_t *in, int8_t *out, int32_t rows, int32_t depth, int32_t mult,
                    int32_t left_shift, int32_t diff_min)
{
    int32_t r, j;
    for (r = 0; r < rows; ++r, in += depth, out += depth) {
        int32_t mx = -128, sum = 0, headroom, scale, exponent;
        for (j = 0; j < depth; ++j) mx = in[j] > mx ? in[j] : mx;
        for (j = 0; j < depth; ++j) {
            const int32_t diff = in[j] - mx;
            if (diff >= diff_min) {
                const int32_t scaled = zoo_srdhm((int32_t)((uint32_t)diff << left_shift), mult);
                sum += zoo_rdbpot(exp_negative(scaled), ZOO_ACCUM_BITS);
            }
        }
        headroom = clz32((uint32_t)sum);
        scale = reciprocal_one_plus((int32_t)(((uint32_t)sum << headroom) - 0x80000000u));
        exponent = ZOO_ACCUM_BITS - headroom + 31 - 8;
        for (j = 0; j < depth; ++j) {
            const int32_t diff = in[j] - mx;
            if (diff >= diff_min) {
                const int32_t scaled = zoo_srdhm((int32_t)((uint32_t)diff << left_shift), mult);
                const int32_t v = zoo_rdbpot(zoo_srdhm(scale, exp_negative(scaled)), exponent) - 128;
                out[j] = zoo_clamp8(v, -128, 127);
            } else {
                out[j] = -128;
            }
        }
    }
}
