/* zoo int8 FULLY_CONNECTED (TFLM reference_integer_ops::FullyConnected; the input zero point is
 * folded into the bias at compile time). */
#include "zoo_int8.h"

void zoo_fc_s8(const int8_t *in, const int8_t *w0, const int32_t *bias, int8_t *out, int32_t rows,
               int32_t n_in, int32_t n_out, int32_t out_zp, const int32_t *mult,
               const int32_t *shift, int32_t per_channel, int32_t act_min, int32_t act_max)
{
    int32_t r, o, i;
    for (r = 0; r < rows; ++r, in += n_in, out += n_out) {
        const int8_t *w = w0;
        for (o = 0; o < n_out; ++o, w += n_in) {
            int32_t acc = bias[o];
            const int32_t q = per_channel ? o : 0;
            i = 0;
#if ZOO_DSP
            for (; i + 4 <= n_in; i += 4) {
                const uint32_t x = (uint32_t)zoo_read32(in + i), k = (uint32_t)zoo_read32(w + i);
                acc = __smlad((int32_t)__sxtb16(x), (int32_t)__sxtb16(k), acc);
                acc = __smlad(zoo_sxtb16_ror8(x), zoo_sxtb16_ror8(k), acc);
            }
#endif
            for (; i < n_in; ++i) acc += in[i] * w[i];
            out[o] = zoo_clamp8(zoo_mbqm(acc, mult[q], shift[q]) + out_zp, act_min, act_max);
        }
    }
}
