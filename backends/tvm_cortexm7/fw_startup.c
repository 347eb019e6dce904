/* fw_startup.c - minimal Cortex-M start-up for the zoo test harness: vector table, reset
 * (FPU on when the target has one, .data copy, .bss clear), SysTick wrap counter, fault handlers
 * that exit QEMU with a distinctive code instead of hanging. Options come from the target's data
 * (targets/<name>.yaml, startup:) as -D flags: FW_ENABLE_FPU=1 sets CP10/CP11 full access.
 * Only ARMv6-M instructions outside the FPU path, so one file serves Cortex-M0 to M55. */
#include <stdint.h>
#include "fw_semihost.h"

#ifndef FW_ENABLE_FPU
#error "build with -DFW_ENABLE_FPU=0 or 1 (firmware.py passes the target's startup.enable_fpu)"
#endif

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end, __stack_top;
int main(void);

volatile uint32_t fw_systick_wraps;

void fw_reset_c(void) __attribute__((noreturn, used));
void Reset_Handler(void) __attribute__((naked, noreturn));
void HardFault_Handler(void);
void Default_Handler(void);
void SysTick_Handler(void);

void Reset_Handler(void) {
#if FW_ENABLE_FPU
  /* Enable CP10/CP11 (the FPU, and MVE on a Cortex-M55) in CPACR before any C code can touch
   * a floating-point or vector register. */
  __asm__ volatile(
      "ldr r0, =0xE000ED88\n"
      "ldr r1, [r0]\n"
      "orr r1, r1, #(0xF << 20)\n"
      "str r1, [r0]\n"
      "dsb\n"
      "isb\n"
      "b fw_reset_c\n");
#else
  __asm__ volatile("b fw_reset_c\n");
#endif
}

void fw_reset_c(void) {
  volatile uint32_t *src = &__data_load;
  for (volatile uint32_t *dst = &__data_start; dst < &__data_end;) {
    *dst++ = *src++;
  }
  for (volatile uint32_t *dst = &__bss_start; dst < &__bss_end;) {
    *dst++ = 0u;
  }
  sh_exit(main());
}

void HardFault_Handler(void) { sh_exit(FW_EXIT_FAULT); }
void Default_Handler(void) { sh_exit(FW_EXIT_UNEXPECTED_IRQ); }
void SysTick_Handler(void) { fw_systick_wraps++; }

typedef void (*vector_fn)(void);
__attribute__((section(".isr_vector"), used)) const vector_fn fw_vectors[16] = {
    (vector_fn)&__stack_top, Reset_Handler, Default_Handler /* NMI */, HardFault_Handler,
    HardFault_Handler /* MemManage */, HardFault_Handler /* BusFault */, HardFault_Handler /* UsageFault */,
    0, 0, 0, 0, Default_Handler /* SVC */, Default_Handler /* DebugMon */, 0, Default_Handler /* PendSV */,
    SysTick_Handler,
};
