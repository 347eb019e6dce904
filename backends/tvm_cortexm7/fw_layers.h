/* fw_layers.h - the layer records of an instrumented harness build (fw_layers.c); in a normal build
 * (no FW_LAYERS) every macro below is empty, so the normal firmware is the same code as without them.
 *   FW_LAYERS=1 (tensors): after each operator the tensor it wrote goes to layers.bin, one record each.
 *   FW_LAYERS=2 (profile): each operator's SysTick span, one record per input (payload: one hook's
 *     overhead ticks lo, hi; then per hook its ordinal, 0, ticks lo, ticks hi).
 * Record (uint32 words, little-endian; parsed and checked by layer_records.py):
 *   magic 0x5A4F4C59 ("YLOZ"), input index, operator index (0xFFFFFFFF: a profile record),
 *   tensor index (profile: the number of spans), payload bytes, payload padded to 4 bytes,
 *   CRC-32 (zlib's) over every byte of the record before it. */
#ifndef FW_LAYERS_H
#define FW_LAYERS_H
#include <stdint.h>

#ifdef FW_LAYERS
int32_t fw_layers_open(void);               /* open layers.bin (and calibrate the profile); 0 on success */
void fw_layers_begin(uint32_t input_index); /* the next hooks belong to this input */
void fw_layers_pause(void);                 /* hooks until the next begin are not recorded */
int32_t fw_layers_end(void);                /* profile: write the input's record; 0 on success, also for tensors */
void fw_layers_close(void);
#define FW_LAYERS_OPEN() fw_layers_open()
#define FW_LAYERS_BEGIN(i) fw_layers_begin((uint32_t)(i))
#define FW_LAYERS_PAUSE() fw_layers_pause()
#define FW_LAYERS_END() fw_layers_end()
#define FW_LAYERS_CLOSE() fw_layers_close()
#else
#define FW_LAYERS_OPEN() 0
#define FW_LAYERS_BEGIN(i) ((void)0)
#define FW_LAYERS_PAUSE() ((void)0)
#define FW_LAYERS_END() 0
#define FW_LAYERS_CLOSE() ((void)0)
#endif

#endif
