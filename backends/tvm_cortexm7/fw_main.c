/* fw_main.c - the zoo test harness: reads every image of input.bin (semihosting), runs the
 * model on each, and writes one record per image to output.bin:
 *   int32 status, uint32 ticks_lo, uint32 ticks_hi, uint32 stack_bytes,
 *   float32 output[fw_output_count], int8 logits[fw_output_count] (when fw_has_logits), padded to 4.
 * Ticks are SysTick counts of the fw_run call alone (minus the empty-span overhead); under
 * QEMU -icount shift=6 they convert to instructions retired on the host side. */
#include <stdint.h>
#include "fw_binding.h"
#include "fw_semihost.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_RELOAD 0x00FFFFFFu
#define STACK_PAINT 0xA5A5A5A5u

extern volatile uint32_t fw_systick_wraps;
extern uint32_t __stack_limit;

static uint64_t ticks_now(void) {
  uint32_t before, value, after;
  do {
    before = fw_systick_wraps;
    value = SYST_CVR;
    after = fw_systick_wraps;
  } while (before != after);
  return (uint64_t)before * (SYST_RELOAD + 1u) + (SYST_RELOAD - value);
}

static uintptr_t stack_pointer(void) {
  uintptr_t sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  return sp;
}

/* Fill the unused stack below the caller's frame with a pattern (no memset: no libc here). */
static void paint_stack(uintptr_t below) {
  for (volatile uint32_t *p = &__stack_limit; (uintptr_t)p < below; ++p) {
    *p = STACK_PAINT;
  }
}

/* Lowest painted word that was overwritten, i.e. the deepest stack use since painting. */
static uintptr_t stack_low_water(uintptr_t below) {
  volatile uint32_t *p = &__stack_limit;
  while ((uintptr_t)p < below && *p == STACK_PAINT) {
    ++p;
  }
  return (uintptr_t)p;
}

int main(void) {
  SYST_RVR = SYST_RELOAD;
  SYST_CVR = 0u;
  SYST_CSR = 7u; /* processor clock, interrupt on wrap, enable */
  uint64_t t0 = ticks_now();
  uint64_t overhead = ticks_now() - t0;

  int32_t in = sh_open("input.bin", SH_MODE_RB);
  int32_t out = sh_open("output.bin", SH_MODE_WB);
  if (in < 0 || out < 0) {
    return FW_EXIT_IO;
  }
  int32_t count = sh_flen(in) / (int32_t)fw_input_bytes;
  uint32_t logits_words = fw_has_logits ? (fw_output_count + 3u) / 4u : 0u;
  for (int32_t i = 0; i < count; ++i) {
    if (sh_read(in, fw_input_buf, fw_input_bytes) != 0) {
      return FW_EXIT_IO;
    }
    uintptr_t frame = stack_pointer() - 64u;
    paint_stack(frame);
    uint64_t start = ticks_now();
    int32_t status = fw_run(fw_input_buf, fw_output_buf);
    uint64_t ticks = ticks_now() - start - overhead;
    uint32_t head[4] = {(uint32_t)status, (uint32_t)ticks, (uint32_t)(ticks >> 32),
                        (uint32_t)(frame + 64u - stack_low_water(frame))};
    if (fw_has_logits && status == 0) {
      head[0] = (uint32_t)fw_run_logits(fw_input_buf, fw_logits_buf);
    }
    if (sh_write(out, head, sizeof head) != 0 ||
        sh_write(out, fw_output_buf, fw_output_count * 4u) != 0 ||
        (logits_words && sh_write(out, fw_logits_buf, logits_words * 4u) != 0)) {
      return FW_EXIT_IO;
    }
  }
  sh_close(in);
  sh_close(out);
  return FW_EXIT_OK;
}
