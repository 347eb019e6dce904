/* zoo int8 MAX_POOL_2D: the largest value among the window's cells inside the input (TFLM
 * reference_integer_ops::MaxPool), clamped to the fused activation. */
#include "zoo_int8.h"

void zoo_maxpool_s8(const zoo_pool_t *p, const int8_t *in, int8_t *out)
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
            for (ch = 0; ch < p->c; ++ch) {
                int32_t mx = -128;
                for (y = y0; y < y1; ++y) {
                    const int8_t *row = in + (y * p->in_w) * p->c + ch;
                    for (x = x0; x < x1; ++x) mx = row[x * p->c] > mx ? row[x * p->c] : mx;
                }
                out[ch] = zoo_clamp8(mx, p->act_min, p->act_max);
            }
        }
    }
}
