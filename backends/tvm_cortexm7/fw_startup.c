/* fw_startup.c - minimal Cortex-M7 start-up for the zoo test harness: vector table, reset
 * (FPU on, .data copy, .bss clear), SysTick wrap counter, fault handlers that exit QEMU
 * with a distinctive code instead of hanging. */
#include <stdint.h>
#include "fw_semihost.h"

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end, __stack_top;
int main(void);

volatile uint32_t fw_systick_wraps;

void fw_reset_c(void) __attribute__((noreturn, used));
void Reset_Handler(void) __attribute__((naked, noreturn));
void HardFault_Handler(void);
void Default_Handler(void);
void SysTick_Handler(void);

void Reset_Handler(void) {
  /* Enable CP10/CP11 (the FPU) before any C code can touch a floating-point register. */
  __asm__ volatile(
      "ldr r0, =0xE000ED88\n"
      "ldr r1, [r0]\n"
      "orr r1, r1, #(0xF << 20)\n"
      "str r1, [r0]\n"
      "dsb\n"
      "isb\n"
      "b fw_reset_c\n");
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
