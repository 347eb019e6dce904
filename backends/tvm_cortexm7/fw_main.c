/* fw_main.c - the zoo test harness: reads every input of input.bin (semihosting, fw_input_bytes
 * each), runs the model on each, and writes one framed record per input to output.bin, uint32
 * words, little-endian (parsed and checked by records.py):
 *   magic 0x5A4F4F52 ("ROOZ"), index, status, ticks_lo, ticks_hi, stack_bytes, payload_bytes,
 *   payload: the packed outputs (fw_output_bytes) then the int8 logits padded to 4 (fw_logits_bytes),
 *   checksum: FNV-1a (32 bit) over every byte of the record before it.
 * A record that was zeroed, cut or shuffled on its way to the host fails the magic, index or
 * checksum test there instead of passing as all-zero outputs.
 * Ticks are SysTick counts of the fw_run call alone (minus the empty-span overhead); under
 * QEMU -icount shift=6 they convert to instructions retired on the host side.
 * An instrumented build (-DFW_LAYERS, fw_layers.h) also writes layers.bin; in a normal build the
 * FW_LAYERS_* macros are empty. */
#include <stdint.h>
#include "fw_binding.h"
#include "fw_layers.h"
#include "fw_semihost.h"
#include "fw_ticks.h"

#define STACK_PAINT 0xA5A5A5A5u
#define RECORD_MAGIC 0x5A4F4F52u
#define FNV_OFFSET 2166136261u
#define FNV_PRIME 16777619u

extern uint32_t __stack_limit;

static uint64_t ticks_now(void) { return fw_ticks_now(); }

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

static uint32_t fnv1a(uint32_t h, const void *data, uint32_t n) {
  const uint8_t *p = (const uint8_t *)data;
  for (uint32_t i = 0; i < n; ++i) {
    h = (h ^ p[i]) * FNV_PRIME;
  }
  return h;
}

/* Write `n` bytes and fold them into the record's checksum; 0 on success. */
static int32_t put(int32_t out, uint32_t *sum, const void *data, uint32_t n) {
  *sum = fnv1a(*sum, data, n);
  return n == 0u ? 0 : sh_write(out, data, n);
}

int main(void) {
  SYST_RVR = SYST_RELOAD;
  SYST_CVR = 0u;
  SYST_CSR = 7u; /* processor clock, interrupt on wrap, enable */
  uint64_t t0 = ticks_now();
  uint64_t overhead = ticks_now() - t0;

  int32_t in = sh_open("input.bin", SH_MODE_RB);
  int32_t out = sh_open("output.bin", SH_MODE_WB);
  if (in < 0 || out < 0 || FW_LAYERS_OPEN() != 0) {
    return FW_EXIT_IO;
  }
  int32_t count = sh_flen(in) / (int32_t)fw_input_bytes;
  uint32_t logits_padded = (fw_logits_bytes + 3u) & ~3u;
  for (int32_t i = 0; i < count; ++i) {
    if (sh_read(in, fw_input_buf, fw_input_bytes) != 0) {
      return FW_EXIT_IO;
    }
    uintptr_t frame = stack_pointer() - 64u;
    paint_stack(frame);
    FW_LAYERS_BEGIN(i);
    uint64_t start = ticks_now();
    int32_t status = fw_run(fw_input_buf, fw_output_buf);
    uint64_t ticks = ticks_now() - start - overhead;
    FW_LAYERS_PAUSE(); /* the logits run below repeats the layers: not recorded */
    uint32_t head[7] = {RECORD_MAGIC, (uint32_t)i, (uint32_t)status, (uint32_t)ticks, (uint32_t)(ticks >> 32),
                        (uint32_t)(frame + 64u - stack_low_water(frame)), fw_output_bytes + logits_padded};
    if (fw_logits_bytes && status == 0) {
      head[2] = (uint32_t)fw_run_logits(fw_input_buf, fw_logits_buf);
    }
    uint32_t sum = FNV_OFFSET;
    if (put(out, &sum, head, sizeof head) != 0 || put(out, &sum, fw_output_buf, fw_output_bytes) != 0 ||
        put(out, &sum, fw_logits_buf, logits_padded) != 0 || sh_write(out, &sum, 4u) != 0 ||
        FW_LAYERS_END() != 0) {
      return FW_EXIT_IO;
    }
  }
  sh_close(in);
  sh_close(out);
  FW_LAYERS_CLOSE();
  return FW_EXIT_OK;
}
