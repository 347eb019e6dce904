/* zoo int8 elementwise table lookup (LOGISTIC, TANH): out = table[in + 128], the table computed at
 * compile time with TFLM's integer arithmetic (operators/lut.py). In place is allowed. */
#include "zoo_int8.h"

void zoo_lut_s8(const int8_t *in, int8_t *out, int32_t n, const int8_t *table)
{
    int32_t i;
    for (i = 0; i < n; ++i) out[i] = table[(int32_t)in[i] + 128];
}
