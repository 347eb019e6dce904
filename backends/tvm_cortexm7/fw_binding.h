/* fw_binding.h - what the zoo test harness needs from a model library; fw_binding.c (generated
 * per library by firmware.py) implements it on top of <prefix>.h. */
#ifndef FW_BINDING_H
#define FW_BINDING_H
#include <stdint.h>

extern const uint32_t fw_input_bytes;
extern const uint32_t fw_output_count;
extern const uint32_t fw_has_logits;
extern uint8_t fw_input_buf[];
extern float fw_output_buf[];
extern int8_t fw_logits_buf[];
int32_t fw_run(const uint8_t *input, float *output);
int32_t fw_run_logits(const uint8_t *input, int8_t *logits);

#endif
