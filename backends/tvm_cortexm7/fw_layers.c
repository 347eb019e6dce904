/* fw_layers.c - the layer hook of an instrumented build (see fw_layers.h for the records).
 * The generated model calls zoo_layer_hook(operator, tensor, data, bytes) after each operator
 * (int8/codegen.py, compiled with -DZOO_LAYER_HOOKS).
 *   FW_LAYERS=1: the tensor is written from the arena to layers.bin as it is.
 *   FW_LAYERS=2: the SysTick span since the previous hook returned is kept; fw_layers_end writes
 *     them all. The hook's own ticks between its two SysTick reads are never in a span; what it
 *     costs outside them (the call, its entry and return) is measured once by fw_layers_open
 *     (two hooks back to back) and sent with every record, for the host to subtract.
 * Test-only: -DFW_TEST_NUDGE_OP=<operator index> raises that operator's int8 output by one step
 * (saturating) before anything reads it, a deliberately wrong layer for tests/test_diff_device.py. */
#include <stdint.h>
#include "fw_layers.h"
#include "fw_semihost.h"
#include "fw_ticks.h"

#ifndef FW_LAYERS
#error "build with -DFW_LAYERS=1 (tensors) or 2 (profile); firmware.py passes it for instrumented builds"
#endif

#define LAYER_MAGIC 0x5A4F4C59u
#define PROFILE_OP 0xFFFFFFFFu
#define FW_MAX_SPANS 256u

void zoo_layer_hook(uint32_t op_index, uint32_t tensor_index, const void *data, uint32_t nbytes)
    __attribute__((noinline));

static int32_t s_fd = -1;
static int32_t s_error;
static uint32_t s_active;
static uint32_t s_input;
static uint32_t s_crc_table[256];
#if FW_LAYERS == 2
static uint64_t s_last;
static uint32_t s_count;
static uint32_t s_overhead;
static uint32_t s_spans[FW_MAX_SPANS][4]; /* operator, tensor, ticks_lo, ticks_hi */
#endif

static void crc_init(void) {
  for (uint32_t n = 0; n < 256u; ++n) {
    uint32_t c = n;
    for (int k = 0; k < 8; ++k) {
      c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    s_crc_table[n] = c;
  }
}

/* zlib's crc32 continued over n more bytes: crc = crc_add(crc, ...) starting from 0. */
static uint32_t crc_add(uint32_t crc, const void *data, uint32_t n) {
  const uint8_t *p = (const uint8_t *)data;
  crc = ~crc;
  for (uint32_t i = 0; i < n; ++i) {
    crc = s_crc_table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
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

void zoo_layer_hook(uint32_t op_index, uint32_t tensor_index, const void *data, uint32_t nbytes) {
#if FW_LAYERS == 2
  uint64_t enter = fw_ticks_now();
  if (s_active && s_count < FW_MAX_SPANS) {
    uint64_t span = enter - s_last;
    uint32_t *row = s_spans[s_count++];
    row[0] = op_index;
    row[1] = tensor_index;
    row[2] = (uint32_t)span;
    row[3] = (uint32_t)(span >> 32);
  } else if (s_active) {
    s_error = 1; /* more hooks than FW_MAX_SPANS: refuse rather than drop layers */
  }
  (void)data;
  (void)nbytes;
  s_last = fw_ticks_now();
#else
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
#endif
}

int32_t fw_layers_open(void) {
  crc_init();
  s_fd = sh_open("layers.bin", SH_MODE_WB);
#if FW_LAYERS == 2
  /* The cost of one hook outside its own SysTick reads: the second of two back-to-back hooks. */
  s_active = 1u;
  s_count = 0u;
  s_last = fw_ticks_now();
  zoo_layer_hook(0u, 0u, 0, 0u);
  zoo_layer_hook(0u, 0u, 0, 0u);
  s_overhead = s_spans[1][2];
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
  /* payload: the overhead ticks (lo, hi = 0), then one (operator, tensor, lo, hi) row per span */
  static uint32_t payload[2u + 4u * FW_MAX_SPANS];
  payload[0] = s_overhead;
  payload[1] = 0u;
  for (uint32_t k = 0; k < s_count; ++k) {
    for (uint32_t j = 0; j < 4u; ++j) {
      payload[2u + 4u * k + j] = s_spans[k][j];
    }
  }
  put_record(PROFILE_OP, s_count, payload, 4u * (2u + 4u * s_count));
#endif
  return s_error ? -1 : 0;
}

void fw_layers_close(void) {
  if (s_fd >= 0) {
    sh_close(s_fd);
  }
}
