/* fw_layers.c - the layer hooks of an instrumented build (see fw_layers.h for the records).
 * The generated model calls a hook after each operator (int8/codegen.py, ZOO_LAYER_HOOK):
 *   FW_LAYERS=1 (model built with -DZOO_LAYER_HOOKS=1): zoo_layer_hook(operator, tensor, data, bytes)
 *     writes the tensor from the arena to layers.bin as it is.
 *   FW_LAYERS=2 (-DZOO_LAYER_HOOKS=2): `bl zoo_layer_tick_entry` followed by the hook's ordinal as a
 *     halfword; the entry saves every register the C code may change, reads the ordinal, calls
 *     zoo_layer_tick and returns past the halfword. So the model's code around a hook is the normal
 *     build's (the compiler sees an asm statement that changes only lr), and every hook costs the same.
 *     zoo_layer_tick keeps the SysTick span since the previous hook returned; fw_layers_end writes
 *     them all. The hook's own ticks between its two SysTick reads are never in a span; what it
 *     costs outside them is measured once by fw_layers_open (two hooks back to back) and sent with
 *     every record, for the host to subtract.
 * Test-only: -DFW_TEST_NUDGE_OP=<operator index> raises that operator's int8 output by one step
 * (saturating) before anything reads it, a deliberately wrong layer for tests/test_diff_device.py. */
#if defined(FW_LAYERS) && FW_LAYERS == 2
/* The tick entry saves only r0-r3, r12 and lr: nothing here may touch s0-s15 / q0-q3 (GCC could use
 * them for 64-bit moves), which the model's code around a hook expects unchanged. */
#pragma GCC target("general-regs-only")
#endif
#include <stdint.h>
#include "fw_layers.h"
#include "fw_semihost.h"
#include "fw_ticks.h"

#ifndef FW_LAYERS
#error "build with -DFW_LAYERS=1 (tensors) or 2 (profile); firmware.py passes it for instrumented builds"
#endif

#define LAYER_MAGIC 0x5A4F4C59u
#define PROFILE_OP 0xFFFFFFFFu
#ifndef FW_MAX_SPANS
/* hooks per inference a profile record holds (>= 2, fw_layers_open's): instrumented.py passes the model's count */
#define FW_MAX_SPANS 128u
#endif

void zoo_layer_hook(uint32_t op_index, uint32_t tensor_index, const void *data, uint32_t nbytes);
void zoo_layer_tick(uint32_t ordinal) __attribute__((noinline, used));
void zoo_layer_tick_entry(void) __attribute__((naked, used));

static int32_t s_fd = -1;
static int32_t s_error;
static uint32_t s_active;
static uint32_t s_input;
#if FW_LAYERS == 2
static uint64_t s_last;
static uint32_t s_count;
/* the profile payload: one hook's overhead ticks (lo, hi), then (ordinal, 0, ticks_lo, ticks_hi) per span */
static uint32_t s_profile[2u + 4u * FW_MAX_SPANS];
#endif

/* CRC-32 with zlib's polynomial, four bits at a time (a 64-byte table: the Cortex-M0 has 16 KB of RAM). */
static const uint32_t s_crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};

/* zlib's crc32 continued over n more bytes: crc = crc_add(crc, ...) starting from 0. */
static uint32_t crc_add(uint32_t crc, const void *data, uint32_t n) {
  const uint8_t *p = (const uint8_t *)data;
  crc = ~crc;
  for (uint32_t i = 0; i < n; ++i) {
    crc ^= p[i];
    crc = s_crc_nibble[crc & 0xFu] ^ (crc >> 4);
    crc = s_crc_nibble[crc & 0xFu] ^ (crc >> 4);
  }
  return ~crc;
}

/* One framed record: head, payload, zero padding to 4, CRC-32. */
static void put_record(uint32_t op, uint32_t tensor, const void *payload, uint32_t nbytes) {
  static const uint8_t zeros[4] = {0, 0, 0, 0};
  uint32_t pad = (4u - (nbytes & 3u)) & 3u;
  uint32_t head[5] = {LAYER_MAGIC, s_input, op, tensor, nbytes + pad};
  uint32_t crc = crc_add(crc_add(crc_add(0u, head, sizeof head), payload, nbytes), zeros, pad);
  if (sh_write(s_fd, head, sizeof head) != 0 || (nbytes && sh_write(s_fd, payload, nbytes) != 0) ||
      (pad && sh_write(s_fd, zeros, pad) != 0) || sh_write(s_fd, &crc, 4u) != 0) {
    s_error = 1;
  }
}

#if FW_LAYERS == 2
#define TICK_HOOK(k) __asm__ volatile("bl zoo_layer_tick_entry\n\t.short " #k : : : "lr", "cc", "memory")

/* Saves r0-r3 and r12 (24 bytes: the stack stays 8-byte aligned), reads the halfword at the return
 * address, calls zoo_layer_tick with it, and returns past it. ARMv6-M instructions only. */
void zoo_layer_tick_entry(void) {
  __asm__ volatile(
      "push {r0, r1, r2, r3, lr}\n"
      "mov r1, r12\n"
      "push {r1}\n"
      "mov r0, lr\n"
      "sub r0, #1\n" /* unified or divided syntax: the assembler picks the encoding */
      "ldrh r0, [r0]\n"
      "bl zoo_layer_tick\n"
      "pop {r1}\n"
      "mov r12, r1\n"
      "ldr r0, [sp, #16]\n"
      "add r0, #2\n"
      "str r0, [sp, #16]\n"
      "pop {r0, r1, r2, r3, pc}\n");
}

void zoo_layer_tick(uint32_t ordinal) {
  uint64_t enter = fw_ticks_now();
  if (s_active && s_count < FW_MAX_SPANS) {
    uint64_t span = enter - s_last;
    uint32_t *row = &s_profile[2u + 4u * s_count++];
    row[0] = ordinal;
    row[1] = 0u;
    row[2] = (uint32_t)span;
    row[3] = (uint32_t)(span >> 32);
  } else if (s_active) {
    s_error = 1; /* more hooks than FW_MAX_SPANS: refuse rather than drop layers */
  }
  s_last = fw_ticks_now();
}
#else
void zoo_layer_hook(uint32_t op_index, uint32_t tensor_index, const void *data, uint32_t nbytes) {
  if (!s_active) {
    return;
  }
#ifdef FW_TEST_NUDGE_OP
  if (op_index == (uint32_t)(FW_TEST_NUDGE_OP)) {
    int8_t *p = (int8_t *)(uintptr_t)data;
    for (uint32_t i = 0; i < nbytes; ++i) {
      p[i] = p[i] < 127 ? (int8_t)(p[i] + 1) : p[i];
    }
  }
#endif
  put_record(op_index, tensor_index, data, nbytes);
}
#endif

int32_t fw_layers_open(void) {
  s_fd = sh_open("layers.bin", SH_MODE_WB);
#if FW_LAYERS == 2
  /* The cost of one hook outside its own SysTick reads: the second of two back-to-back hooks. */
  s_active = 1u;
  s_count = 0u;
  s_last = fw_ticks_now();
  TICK_HOOK(0);
  TICK_HOOK(1);
  s_profile[0] = s_profile[2u + 4u + 2u]; /* the second span's ticks */
  s_profile[1] = 0u;
  s_active = 0u;
#endif
  return s_fd < 0 ? -1 : 0;
}

void fw_layers_begin(uint32_t input_index) {
  s_input = input_index;
  s_active = 1u;
#if FW_LAYERS == 2
  s_count = 0u;
  s_last = fw_ticks_now();
#endif
}

void fw_layers_pause(void) { s_active = 0u; }

int32_t fw_layers_end(void) {
  s_active = 0u;
#if FW_LAYERS == 2
  put_record(PROFILE_OP, s_count, s_profile, 4u * (2u + 4u * s_count));
#endif
  return s_error ? -1 : 0;
}

void fw_layers_close(void) {
  if (s_fd >= 0) {
    sh_close(s_fd);
  }
}
