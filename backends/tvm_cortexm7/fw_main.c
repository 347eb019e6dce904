/* fw_main.c - the zoo test harness: reads the inputs of input.bin (semihosting), runs the model on
 * each, and writes one framed record per input to output.bin. uint32 words, little-endian.
 * input.bin: a head {magic 0x5A4F4F49 ("IOOZ"), flags, input bytes, count}, then `count` packed
 *   inputs of fw_input_bytes each. Flag FW_MEASURE (the runner's instruction-counting runs): paint
 *   the stack before each input and time fw_run alone, then take the logits from a second inference
 *   (fw_run_logits); without it (validation batches) one fw_run_logits gives outputs and logits,
 *   and nothing is painted (records say 0 stack bytes).
 * output.bin, one record per input (parsed and checked by records.py):
 *   magic 0x5A4F4F52 ("ROOZ"), index, status, ticks_lo, ticks_hi, stack_bytes, payload_bytes,
 *   payload: the packed outputs (fw_output_bytes) then the int8 logits padded to 4 (fw_logits_bytes),
 *   checksum: FNV-1a (32 bit) over every byte of the record before it.
 * A record that was zeroed, cut or shuffled on its way to the host fails the magic, index or
 * checksum test there instead of passing as all-zero outputs.
 * Ticks are SysTick counts of the timed call alone (minus the empty-span overhead); under
 * QEMU -icount shift=6 they convert to instructions retired on the host side.
 * An instrumented build (-DFW_LAYERS, fw_layers.h) also writes layers.bin, the hooks of one
 * inference per input (the timed one); in a normal build the FW_LAYERS_* macros are empty. */
#include <stdint.h>
#include "fw_binding.h"
#include "fw_layers.h"
#include "fw_semihost.h"
#include "fw_ticks.h"

#define STACK_PAINT 0xA5A5A5A5u
#define RECORD_MAGIC 0x5A4F4F52u
#define INPUT_MAGIC 0x5A4F4F49u
#define FW_MEASURE 1u
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

/* One input: run it (timed, and painted when measuring), then write its record; 0 on success. */
static int32_t run_one(int32_t out, uint32_t index, uint32_t flags, uint64_t overhead) {
  uint32_t logits_padded = (fw_logits_bytes + 3u) & ~3u;
  uintptr_t frame = stack_pointer() - 64u;
  uint32_t stack = 0u;
  int32_t status;
  uint64_t ticks;
  if (flags & FW_MEASURE) {
    paint_stack(frame);
    FW_LAYERS_BEGIN(index);
    uint64_t start = ticks_now();
    status = fw_run(fw_input_buf, fw_output_buf);
    ticks = ticks_now() - start - overhead;
    FW_LAYERS_PAUSE(); /* the logits run below repeats the layers: not recorded */
    stack = (uint32_t)(frame + 64u - stack_low_water(frame));
    if (fw_logits_bytes && status == 0) {
      status = fw_run_logits(fw_input_buf, fw_output_buf, fw_logits_buf);
    }
  } else {
    FW_LAYERS_BEGIN(index);
    uint64_t start = ticks_now();
    status = fw_logits_bytes ? fw_run_logits(fw_input_buf, fw_output_buf, fw_logits_buf)
                             : fw_run(fw_input_buf, fw_output_buf);
    ticks = ticks_now() - start - overhead;
    FW_LAYERS_PAUSE();
  }
  uint32_t head[7] = {RECORD_MAGIC, index, (uint32_t)status, (uint32_t)ticks, (uint32_t)(ticks >> 32), stack,
                      fw_output_bytes + logits_padded};
  uint32_t sum = FNV_OFFSET;
  if (put(out, &sum, head, sizeof head) != 0 || put(out, &sum, fw_output_buf, fw_output_bytes) != 0 ||
      put(out, &sum, fw_logits_buf, logits_padded) != 0 || sh_write(out, &sum, 4u) != 0 ||
      FW_LAYERS_END() != 0) {
    return FW_EXIT_IO;
  }
  return FW_EXIT_OK;
}

int main(void) {
  SYST_RVR = SYST_RELOAD;
  SYST_CVR = 0u;
  SYST_CSR = 7u; /* processor clock, interrupt on wrap, enable */
  uint64_t t0 = ticks_now();
  uint64_t overhead = ticks_now() - t0;

  int32_t in = sh_open("input.bin", SH_MODE_RB);
  int32_t out = sh_open("output.bin", SH_MODE_WB);
  uint32_t head[4];
  if (in < 0 || out < 0 || sh_read(in, head, sizeof head) != 0 || FW_LAYERS_OPEN() != 0) {
    return FW_EXIT_IO;
  }
  if (head[0] != INPUT_MAGIC || head[2] != fw_input_bytes ||
      (uint32_t)sh_flen(in) != sizeof head + head[3] * fw_input_bytes) {
    return FW_EXIT_BAD_INPUT;
  }
  for (uint32_t i = 0; i < head[3]; ++i) {
    int32_t code = sh_read(in, fw_input_buf, fw_input_bytes) != 0 ? FW_EXIT_IO : run_one(out, i, head[1], overhead);
    if (code != FW_EXIT_OK) {
      return code;
    }
  }
  sh_close(in);
  sh_close(out);
  FW_LAYERS_CLOSE();
  return FW_EXIT_OK;
}
