/* fw_semihost.c - the semihosting calls of the zoo test harness (host file I/O, exit code). */
#include "fw_semihost.h"

static uint32_t str_len(const char *s) {
  uint32_t n = 0;
  while (s[n] != '\0') {
    ++n;
  }
  return n;
}

int32_t sh_open(const char *name, int32_t mode) {
  uint32_t block[3] = {(uint32_t)name, (uint32_t)mode, str_len(name)};
  return sh_call(SH_SYS_OPEN, block);
}

int32_t sh_close(int32_t fd) {
  uint32_t block[1] = {(uint32_t)fd};
  return sh_call(SH_SYS_CLOSE, block);
}

int32_t sh_read(int32_t fd, void *buf, uint32_t len) {
  uint32_t block[3] = {(uint32_t)fd, (uint32_t)buf, len};
  return sh_call(SH_SYS_READ, block);
}

int32_t sh_write(int32_t fd, const void *buf, uint32_t len) {
  uint32_t block[3] = {(uint32_t)fd, (uint32_t)buf, len};
  return sh_call(SH_SYS_WRITE, block);
}

int32_t sh_flen(int32_t fd) {
  uint32_t block[1] = {(uint32_t)fd};
  return sh_call(SH_SYS_FLEN, block);
}

void sh_exit(int32_t code) {
  /* SYS_EXIT_EXTENDED carries an exit code on AArch32 too; QEMU passes it through. */
  uint32_t block[2] = {SH_ADP_APPLICATION_EXIT, (uint32_t)code};
  for (;;) {
    sh_call(SH_SYS_EXIT_EXTENDED, block);
  }
}
