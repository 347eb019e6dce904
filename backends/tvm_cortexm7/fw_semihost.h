/* fw_semihost.h - Arm semihosting calls (bkpt 0xab) for the zoo test harness: no newlib stdio. */
#ifndef FW_SEMIHOST_H
#define FW_SEMIHOST_H
#include <stdint.h>

#define SH_SYS_OPEN 0x01
#define SH_SYS_CLOSE 0x02
#define SH_SYS_WRITE 0x05
#define SH_SYS_READ 0x06
#define SH_SYS_FLEN 0x0C
#define SH_SYS_EXIT_EXTENDED 0x20
#define SH_ADP_APPLICATION_EXIT 0x20026
#define SH_MODE_RB 1
#define SH_MODE_WB 5

/* Exit codes the host runner understands (see qemu.py). */
#define FW_EXIT_OK 0
#define FW_EXIT_IO 2
#define FW_EXIT_FAULT 3
#define FW_EXIT_UNEXPECTED_IRQ 4
#define FW_EXIT_BAD_INPUT 5

static inline int32_t sh_call(int32_t op, void *arg) {
  register int32_t r0 __asm__("r0") = op;
  register void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

int32_t sh_open(const char *name, int32_t mode);
int32_t sh_close(int32_t fd);
int32_t sh_read(int32_t fd, void *buf, uint32_t len);        /* returns bytes NOT read */
int32_t sh_write(int32_t fd, const void *buf, uint32_t len); /* returns bytes NOT written */
int32_t sh_flen(int32_t fd);
void sh_exit(int32_t code) __attribute__((noreturn));

#endif
