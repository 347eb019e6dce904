/* fw_binding.h - what the zoo test harness needs from a model library; fw_binding.c (generated
 * per library by firmware.py) implements it on top of <prefix>.h. Tensors travel packed, in the
 * model's own element types (<prefix>_run_buffers); nothing is converted. */
#ifndef FW_BINDING_H
#define FW_BINDING_H
#include <stdint.h>

extern const uint32_t fw_input_bytes;  /* packed inputs of one inference */
extern const uint32_t fw_output_bytes; /* packed outputs of one inference (a multiple of 4) */
extern const uint32_t fw_logits_bytes; /* int8 logits, 0 when the library has none */
extern uint8_t fw_input_buf[];
extern uint8_t fw_output_buf[];
extern int8_t fw_logits_buf[];
int32_t fw_run(const uint8_t *input, uint8_t *output);
/* One inference giving the outputs and the logits (-100 when the library has no logits). */
int32_t fw_run_logits(const uint8_t *input, uint8_t *output, int8_t *logits);

#endif
