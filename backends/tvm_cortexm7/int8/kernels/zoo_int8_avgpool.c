/* zoo int8 AVERAGE_POOL_2D: the sum over the window's cells inside the input divided by their
 * count, rounded half away from zero (TFLM reference_integer_ops::AveragePool). */
#include "zoo_int8.h"

void zoo_avgpool_s8(const zoo_pool_t *p, const int8_t *in, int8_t *out)
{
    int32_t oy, ox, ch, y, x;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int32_t y0 = iy0 < 0 ? 0 : iy0;
        const int32_t y1 = iy0 + p->k_h > p->in_h ? p->in_h : iy0 + p->k_h;
        for (ox = 0; ox < p->out_w; ++ox, out += p->c) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            const int32_t x0 = ix0 < 0 ? 0 : ix0;
            const int32_t x1 = ix0 + p->k_w > p->in_w ? p->in_w : ix0 + p->k_w;
            const int32_t count = (y1 - y0) * (x1 - x0);
            for (ch = 0; ch < p->c; ++ch) {
                int32_t acc = 0;
                for (y = y0; y < y1; ++y) {
                    const int8_t *row = in + (y * p->in_w) * p->c + ch;
                    for (x = x0; x < x1; ++x) acc += row[x * p->c];
                }
                if (count > 0) {
                    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                }
                out[ch] = zoo_clamp8(acc, p->act_min, p->act_max);
            }
        }
    }
}
