"""Small firmware images for target tests: the harness start-up, semihosting and batch loop of the
backend, around a test's own ``fw_run`` (no model), built for any target."""

from __future__ import annotations

from pathlib import Path

from zoo.backends.tvm_cortexm7.firmware import build_elf, compile_objects, harness_flags, write_linker_script
from zoo.backends.tvm_cortexm7.targets import TargetSpec

PKG = Path(__import__("zoo.backends.tvm_cortexm7", fromlist=["x"]).__file__).parent

#: fw_run counts down the uint32 of its input: 2 instructions (subs, bne) per count, plus a constant.
_BINDING_HEAD = r"""
#include "fw_binding.h"
const uint32_t fw_input_bytes = 4u;
const uint32_t fw_output_bytes = 4u;
const uint32_t fw_logits_bytes = 0u;
uint8_t fw_input_buf[4] __attribute__((aligned(4)));
uint8_t fw_output_buf[8] __attribute__((aligned(4)));
int8_t fw_logits_buf[4];
int32_t fw_run_logits(const uint8_t *input, uint8_t *output, int8_t *logits) { (void)input; (void)output; (void)logits; return -100; }
"""
LOOP_BINDING = _BINDING_HEAD + r"""
__attribute__((naked)) int32_t fw_run(const uint8_t *input, uint8_t *output) {
  (void)input; (void)output;
  __asm__ volatile(".syntax unified\n"  /* GCC wraps Thumb-1 inline asm in divided syntax */
                   "ldr r2, [r0]\n"
                   "1: subs r2, r2, #1\n"
                   "bne 1b\n"
                   "movs r0, #0\n"
                   "bx lr\n");
}
"""


def tiny_firmware(target: TargetSpec, main: Path, tmp: Path, *, with_batch_loop: bool = False) -> Path:
    """Link the harness start-up and semihosting (and ``fw_main.c`` if asked) with a test's C file."""
    sources = [PKG / "fw_startup.c", PKG / "fw_semihost.c", *([PKG / "fw_main.c"] if with_batch_loop else []), main]
    objs = compile_objects(sources, tmp / "obj", target, include_dirs=[PKG], extra_flags=harness_flags(target))
    elf = tmp / "tiny.elf"
    build_elf(objs, elf, target, linker_script=write_linker_script(target, tmp))
    return elf


def binding_firmware(target: TargetSpec, binding_c: str, tmp: Path) -> Path:
    """The harness batch loop (``fw_main.c``) around a test's binding (4-byte input records, one output)."""
    tmp.mkdir(parents=True, exist_ok=True)
    binding = tmp / "binding.c"
    binding.write_text(binding_c)
    return tiny_firmware(target, binding, tmp, with_batch_loop=True)


def probe_binding(target: TargetSpec) -> str:
    """fw_run reads the last word of every region and writes (then reads back) the last word of every RAM
    region, returning 1 on a mismatch: a region the machine does not map faults (exit code 3)."""
    lines = [_BINDING_HEAD, "int32_t fw_run(const uint8_t *input, uint8_t *output) {", "  (void)input; (void)output;",
             "  uint32_t bad = 0u;"]
    for r in target.memory:
        last = f"(volatile uint32_t *){r.end - 4:#x}u"
        if "code" in r.uses:
            lines.append(f"  (void)*{last};")
        else:
            lines.append(f"  *{last} = 0x5A5AA5A5u; bad |= *{last} != 0x5A5AA5A5u;")
    return "\n".join([*lines, "  return (int32_t)bad;", "}"]) + "\n"
