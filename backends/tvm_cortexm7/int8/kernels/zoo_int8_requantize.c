/* zoo int8 QUANTIZE: uint8/int8 -> int8 requantization (TFLM reference_ops::Requantize) and
 * float32 -> int8 (TFLM reference_ops::AffineQuantize). */
#include "zoo_int8.h"

/* uint8 -> int8 with equal scales and zero points 128 apart: flip the sign bit (the generator
 * calls this instead of zoo_requantize_u8 where it applies) */
void zoo_flip_u8(const uint8_t *in, int8_t *out, int32_t n)
{
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32_t v = (uint32_t)zoo_read32(in + i) ^ 0x80808080u;
        memcpy(out + i, &v, 4);
    }
    for (; i < n; ++i) out[i] = (int8_t)(in[i] ^ 0x80u);
}

void zoo_requantize_u8(const uint8_t *in, int8_t *out, int32_t n, int32_t in_zp, int32_t out_zp,
                       int32_t mult, int32_t shift)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = zoo_clamp8(zoo_mbqm((int32_t)in[i] - in_zp, mult, shift) + out_zp, -128, 127);
    }
}

void zoo_requantize_s8(const int8_t *in, int8_t *out, int32_t n, int32_t in_zp, int32_t out_zp,
                       int32_t mult, int32_t shift)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = zoo_clamp8(zoo_mbqm((int32_t)in[i] - in_zp, mult, shift) + out_zp, -128, 127);
    }
}
