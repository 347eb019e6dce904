/* zoo int8 RELU (TFLM ReluQuantized: requantized to the output, clamped at its zero point) and
 * RELU6 / plain clamps (TFLM Relu6Quantized clamps the raw values, quantization unchanged). */
#include "zoo_int8.h"

void zoo_relu_s8(const int8_t *in, int8_t *out, int32_t n, int32_t in_zp, int32_t out_zp,
                 int32_t mult, int32_t shift, int32_t act_min, int32_t act_max)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = zoo_clamp8(zoo_mbqm(in[i] - in_zp, mult, shift) + out_zp, act_min, act_max);
    }
}

void zoo_clamp_s8(const int8_t *in, int8_t *out, int32_t n, int32_t lo, int32_t hi)
{
    int32_t i;
    for (i = 0; i < n; ++i) out[i] = zoo_clamp8(in[i], lo, hi);
}
