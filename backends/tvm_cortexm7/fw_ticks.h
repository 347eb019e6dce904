/* fw_ticks.h - SysTick as a 64-bit tick counter for the zoo test harness: the 24-bit counter counts
 * down at the machine's clock and fw_startup.c's SysTick_Handler counts its wraps. Under QEMU
 * -icount, ticks convert to instructions retired (qemu.py: ticks x the target's factor). */
#ifndef FW_TICKS_H
#define FW_TICKS_H
#include <stdint.h>

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_RELOAD 0x00FFFFFFu

extern volatile uint32_t fw_systick_wraps;

/* Ticks since SysTick started; re-read when a wrap interrupt lands between the two reads. */
static inline uint64_t fw_ticks_now(void) {
  uint32_t before, value, after;
  do {
    before = fw_systick_wraps;
    value = SYST_CVR;
    after = fw_systick_wraps;
  } while (before != after);
  return (uint64_t)before * (SYST_RELOAD + 1u) + (SYST_RELOAD - value);
}

#endif
