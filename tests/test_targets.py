"""Device targets as data: every target in backends/tvm_cortexm7/targets/ is checked on its real emulated
machine (memory map, instruction-count factor) and runs stmnist_v1 bit-exact with TensorFlow Lite Micro.

Each target's model is compiled once per session (the session cache: the conformance suite reuses it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from target_firmware import LOOP_BINDING, binding_firmware, probe_binding, tiny_firmware

import zoo
from zoo.conformance.golden import load_golden
from zoo.errors import CardError, UnknownNameError

pytestmark = pytest.mark.emulator

if not all(shutil.which(t) for t in ("arm-none-eabi-gcc", "qemu-system-arm")):
    pytest.skip("arm-none-eabi-gcc and qemu-system-arm are needed", allow_module_level=True)
pytest.importorskip("tvm")

from zoo.backends.tvm_cortexm7 import backend_for, source_files  # noqa: E402
from zoo.backends.tvm_cortexm7.firmware import ModelTooLargeError  # noqa: E402
from zoo.backends.tvm_cortexm7.linker import linker_script  # noqa: E402
from zoo.backends.tvm_cortexm7.qemu import QemuRunner  # noqa: E402
from zoo.backends.tvm_cortexm7.records import RecordLayout  # noqa: E402
from zoo.backends.tvm_cortexm7.targets import ENV_PATH, load_target, target_names  # noqa: E402

TARGETS = ["cortexm0", "cortexm4", "cortexm7", "cortexm33", "cortexm55"]

# A sixth target, defined only here: Cortex-M3 (ARMv7-M, no DSP, no FPU) on mps2-an385, sized to an
# STM32F103 (the "blue pill": 128 KB flash, 20 KB SRAM). FACTS.md: SysTick x 40/64 there too.
CORTEX_M3 = """\
name: cortexm3
core: Cortex-M3
arch: armv7-m
part: STM32F103CB
cflags: [-mcpu=cortex-m3, -mthumb, -mfloat-abi=soft]
dsp: false
mve: false
fpu: null
memory:
  - {name: FLASH, origin: 0x00000000, length: 128K, uses: [code], part_address: 0x08000000}
  - {name: SRAM, origin: 0x20000000, length: 20K, uses: [data, stack]}
emulator:
  machine: mps2-an385
  boot_address: 0x00000000
  instructions_per_tick: 40/64
  maps: 4 MB at 0x0, 4 MB at 0x20000000
startup:
  enable_fpu: false
  stack_bytes: 2K
"""


def test_the_five_targets_are_registered_backends() -> None:
    assert set(TARGETS) <= set(target_names())
    assert {f"tvm-{t}" for t in TARGETS} <= set(zoo.list_backends())
    for name in TARGETS:
        cls = zoo.registry.backend_class(f"tvm-{name}")
        assert cls is backend_for(name) and cls.name == f"tvm-{name}" and cls().target.name == name


@pytest.mark.parametrize("name", TARGETS)
def test_target_data_is_the_only_source_of_cpu_facts(name: str) -> None:
    spec = load_target(name)
    script = linker_script(spec)
    for region in spec.memory:  # every region of the part, at the machine's address, with the part's size
        assert f"{region.name} (" in script and f"ORIGIN = {region.origin:#010x}, LENGTH = {region.length}" in script
    assert spec.cflags[0].startswith("-mcpu=") and ("-mfloat-abi=soft" in spec.cflags) == (spec.fpu is None)
    assert spec.dsp == (name != "cortexm0") and spec.mve == (name == "cortexm55")
    cmd = QemuRunner(spec).command(Path("fw.elf"), count_instructions=True)
    assert cmd[cmd.index("-M") + 1] == spec.emulator.machine


@pytest.mark.parametrize("name", TARGETS)
def test_memory_regions_exist_on_the_machine(name: str, tmp_path: Path) -> None:
    """The last word of every region is readable (code) or writable (RAM) on the emulated machine."""
    spec = load_target(name)
    elf = binding_firmware(spec, probe_binding(spec), tmp_path)
    result = QemuRunner(spec, timeout_s=20).run_batch(elf, np.zeros((1, 4), np.uint8), layout=RecordLayout(4))
    assert result.status.tolist() == [0]


@pytest.mark.parametrize("name", TARGETS)
def test_instruction_count_factor_is_calibrated(name: str, tmp_path: Path) -> None:
    """A loop of known length (2 instructions per count: subs, bne) measured through SysTick and the target's
    factor: the differences between counts must be exact to the SysTick resolution (FACTS.md's method)."""
    spec = load_target(name)
    elf = binding_firmware(spec, LOOP_BINDING, tmp_path)
    counts = np.array([1_000, 101_000, 3_001_000], np.uint32)  # the last spans several 24-bit SysTick wraps
    result = QemuRunner(spec, timeout_s=30).run_batch(elf, counts.view(np.uint8).reshape(-1, 4), layout=RecordLayout(4),
                                                      count_instructions=True)
    measured = np.diff(result.instructions)
    expected = np.diff(2 * counts.astype(np.int64))
    print(f"\n{name} ({spec.emulator.machine}, x {spec.emulator.instructions_per_tick}): measured {measured.tolist()}, "
          f"expected {expected.tolist()}")
    assert np.all(np.abs(measured - expected) <= 2), (measured, expected)


@pytest.fixture(scope="module")
def golden_inputs() -> np.ndarray:
    return load_golden(zoo.get_card("stmnist_v1")).inputs


@pytest.fixture(scope="module")
def reference_outputs(golden_inputs: np.ndarray) -> np.ndarray:
    """The outputs of the reference backend the card names (conformance.reference_backend: TFLM)."""
    card = zoo.get_card("stmnist_v1")
    return zoo.load(card.name, backend=card.conformance.reference_backend).predict(golden_inputs)


@pytest.fixture(scope="module")
def target_outputs(golden_inputs: np.ndarray) -> Callable[[str], np.ndarray]:
    """stmnist_v1's outputs on the golden inputs per target, each run once per module (the M0 takes ~10 s)."""
    return cache(lambda name: zoo.load("stmnist_v1", backend=f"tvm-{name}").predict(golden_inputs))


@pytest.mark.parametrize("name", TARGETS)
def test_stmnist_runs_identically_on_every_target(name: str, target_outputs: Callable[[str], np.ndarray]) -> None:
    """stmnist_v1 on every target gives the Cortex-M7's outputs exactly (the same library, each core's flags
    and kernels' code paths: DSP, portable C, soft float), on the golden inputs; footprint and fit per part."""
    model = zoo.load("stmnist_v1", backend=f"tvm-{name}")
    ours, m7_outputs = target_outputs(name), target_outputs("cortexm7")
    assert ours.dtype == np.float32 and ours.shape == m7_outputs.shape
    fp, fit = model.footprint(), model.runner.fit()
    print(f"\n{name} on {fit['part']}: {model.instructions_per_inference():,} instructions/inference, flash "
          f"{fp.flash_bytes:,} B (weights {fp.weights_bytes:,}, code {fp.code_bytes:,}), RAM {fp.ram_bytes:,} B (arena "
          f"{fp.arena_bytes:,}, stack {fp.stack_bytes:,}); "
          + ", ".join(f"{r['region']} {r['used_bytes']:,}/{r['bytes']:,} B" for r in fit["regions"]))
    assert int(np.sum(ours != m7_outputs)) == 0
    assert fit["fits"] and fit["part"] == load_target(name).part
    assert fp.fits and fp.part == fit["part"] and list(fp.regions) == fit["regions"]  # what validate and the card show
    assert all(r["used_bytes"] <= r["bytes"] and r["overflow_bytes"] == 0 for r in fit["regions"])
    # The regions hold the model and the harness (and the reserved stack), up to alignment padding.
    code = sum(r["used_bytes"] for r in fit["regions"] if "code" in r["uses"])
    assert 0 <= code - (fp.flash_bytes + fp.harness["flash_bytes"]) <= 64
    ram = sum(r["used_bytes"] for r in fit["regions"] if "code" not in r["uses"])
    expected_ram = fp.ram_bytes - fp.stack_bytes + fp.harness["ram_bytes"] + fp.harness["stack_reserved_bytes"]
    assert 0 <= ram - expected_ram <= 64


@pytest.mark.parametrize("name", TARGETS)
def test_stmnist_bit_exact_with_the_reference(name: str, target_outputs: Callable[[str], np.ndarray],
                                              reference_outputs: np.ndarray) -> None:
    """stmnist_v1 on every target: outputs identical with the card's reference (TFLM) on the golden inputs."""
    assert int(np.sum(target_outputs(name) != reference_outputs)) == 0


@pytest.mark.parametrize("name", TARGETS)
def test_an_image_too_large_for_the_part_fails_the_link(name: str, tmp_path: Path) -> None:
    spec = load_target(name)
    code, data = spec.region("code"), spec.region("data")
    main = tmp_path / "big.c"
    main.write_text(f"const unsigned char big[{code.length + 1000}] = {{1}};\n"
                    f"unsigned char buf[{data.length + 2000}];\n"
                    "int main(void) { volatile unsigned i = 7u; buf[i] = 1; return big[i] + buf[i]; }\n")
    with pytest.raises(ModelTooLargeError) as info:
        tiny_firmware(spec, main, tmp_path)
    message = str(info.value)
    assert spec.part in message and f"{code.name} ({code.length:,} B, holds code)" in message
    assert re.search(rf"{data.name} \([\d,]+ B, holds data[^)]*\) overflowed by [\d,]+ bytes", message)
    assert info.value.overflow[code.name] >= 1000 and info.value.overflow[data.name] >= 2000
    fit = info.value.fit()
    assert not fit["fits"] and {r["region"]: r["overflow_bytes"] for r in fit["regions"]}[code.name] >= 1000


@pytest.fixture
def extra_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write a target file and an entry point into a throw-away distribution on sys.path; returns a function
    (name, yaml text) -> backend name."""
    folder, site = tmp_path / "targets", tmp_path / "site"
    folder.mkdir()
    monkeypatch.setenv(ENV_PATH, str(folder))
    monkeypatch.syspath_prepend(str(site))

    def add(name: str, text: str) -> str:
        (folder / f"{name}.yaml").write_text(text)
        info = site / f"zoo_target_{name}-0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: zoo-target-{name}\nVersion: 0\n")
        (info / "entry_points.txt").write_text(f"[zoo.backends]\ntvm-{name} = zoo.backends.tvm_cortexm7:{name}\n")
        return f"tvm-{name}"

    yield add
    backend_for.cache_clear()


def test_a_sixth_target_is_one_data_file_and_one_entry_point(extra_target, golden_inputs: np.ndarray,
                                                             target_outputs: Callable[[str], np.ndarray]) -> None:
    backend = extra_target("cortexm3", CORTEX_M3)
    assert backend in zoo.list_backends()
    model = zoo.load("stmnist_v1", backend=backend)
    some = slice(0, None, 4)  # every 4th golden input (each kind): the M3 runs ~6.6 M instructions per inference
    ours = model.predict(golden_inputs[some])
    fit = model.runner.fit()
    print(f"\ncortexm3 (defined in the test) on {fit['part']}: {model.instructions_per_inference():,} instructions, "
          + ", ".join(f"{r['region']} {r['used_bytes']:,}/{r['bytes']:,} B" for r in fit["regions"]))
    assert int(np.sum(ours != target_outputs("cortexm7")[some])) == 0
    assert fit["part"] == "STM32F103CB" and fit["machine"] == "mps2-an385"


def test_a_model_too_large_for_a_part_fails_cleanly(extra_target) -> None:
    """stmnist_v1 itself on a part with 8 KB of RAM: the link names the region and the overflow."""
    small = CORTEX_M3.replace("name: cortexm3", "name: smallm3").replace("length: 20K", "length: 8K")
    backend = extra_target("smallm3", small)
    with pytest.raises(ModelTooLargeError, match=r"does not fit the STM32F103CB.*SRAM \(8,192 B, holds data, stack\) "
                                                 r"overflowed by [\d,]+ bytes") as info:
        zoo.load("stmnist_v1", backend=backend)
    assert info.value.overflow["SRAM"] > 10_000 - 8_192  # the model alone needs ~10.5 KB of RAM


def test_bad_target_files_are_clear_errors(extra_target, tmp_path: Path) -> None:
    extra_target("typo", CORTEX_M3.replace("name: cortexm3", "name: typo").replace("dsp:", "dps:"))
    with pytest.raises(CardError, match=r"(?s)typo.yaml.*dps: unknown key"):
        load_target("typo")
    listed = zoo.list_backends()["tvm-typo"]  # the other backends still list; this one says why it cannot load
    assert not listed and "dps: unknown key" in listed.message()
    extra_target("nostack", CORTEX_M3.replace("name: cortexm3", "name: nostack").replace("[data, stack]", "[data]"))
    with pytest.raises(CardError, match="exactly one memory region must have use 'stack'"):
        load_target("nostack")
    with pytest.raises(UnknownNameError, match="no target named 'cortexm99'.*cortexm4"):
        load_target("cortexm99")


def test_cache_key_covers_every_source_the_lowerings_import(tmp_path: Path) -> None:
    """Every zoo.backends module the lowerings import (in a fresh interpreter) is hashed into the cache key."""
    code = ("import sys, zoo.backends.tvm_cortexm7 as b, zoo.backends.tvm_cortexm7.int8, "
            "zoo.backends.tvm_cortexm7.lowering_float\n"
            "print('\\n'.join(m.__file__ for n, m in sys.modules.items() if n.startswith('zoo.backends')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    imported = {Path(p).resolve() for p in proc.stdout.split()}
    hashed = {p.resolve() for p in source_files()}
    assert imported - hashed == set(), f"not in the cache key: {sorted(imported - hashed)}"
    assert any(p.name == "tvm_tflite.py" for p in hashed)
    m4, m7 = backend_for("cortexm4")(), backend_for("cortexm7")()
    assert m4.cache_key() != m7.cache_key() and "target=cortexm4:" in m4.cache_key()


def test_cache_keys_hold_the_emulators_version(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The compiled form keeps instruction and stack figures QEMU measured, the instrumented profile build its
    per-layer figures: another QEMU version is another cache entry for both."""
    from zoo.backends.tvm_cortexm7 import instrumented, qemu
    from zoo.backends.tvm_cortexm7.library import ModelLibrary

    m7, real = backend_for("cortexm7")(), qemu.qemu_version
    installed = real()
    assert f"/device={installed}/" in m7.cache_key()
    lib = ModelLibrary(tmp_path, "m", tmp_path / "m.h", ())  # only its folder and prefix are read for the key
    before = instrumented._key(lib, m7.runner, instrumented.PROFILE, ())
    monkeypatch.setattr(qemu, "qemu_version", lambda timeout_s=30: "QEMU emulator version 99.0")
    assert "/device=QEMU emulator version 99.0/" in m7.cache_key()
    assert instrumented._key(lib, m7.runner, instrumented.PROFILE, ()) != before
    monkeypatch.setattr(qemu, "QEMU", "qemu-system-arm-not-installed")
    assert real() == "missing"


@pytest.mark.parametrize("name", TARGETS)
def test_declared_features_match_what_the_compiler_enables(name: str) -> None:
    """dsp, mve and fpu in the target's data agree with gcc's feature macros for its flags (not taken on faith)."""
    spec = load_target(name)
    proc = subprocess.run(["arm-none-eabi-gcc", *spec.cflags, "-dM", "-E", "-x", "c", "/dev/null"],
                          capture_output=True, text=True, timeout=60, check=True)
    macros = dict(line.split(" ", 2)[1:] for line in proc.stdout.splitlines() if line.count(" ") >= 2)
    assert ("__ARM_FEATURE_DSP" in macros) == spec.dsp
    assert ("__ARM_FEATURE_MVE" in macros) == spec.mve
    assert ("__ARM_FP" in macros) == (spec.fpu is not None)
    assert macros["__ARM_ARCH_PROFILE"] == "77"  # 'M'



def test_export_for_any_device_backend(tmp_path: Path) -> None:
    """`zoo export -b tvm-cortexm0` gives the library the M0 backend builds; it compiles alone with the M0's flags."""
    from click.testing import CliRunner

    from zoo.cli import main

    out = tmp_path / "lib"
    result = CliRunner().invoke(main, ["export", "stmnist_v1", str(out), "-b", "tvm-cortexm0"])
    assert result.exit_code == 0, result.output
    flags = re.search(r"with: arm-none-eabi-gcc (.*)$", result.output, re.MULTILINE)[1].split()
    assert flags[:-1] == list(load_target("cortexm0").cflags)
    for source in sorted(out.glob("*.c")):
        proc = subprocess.run(["arm-none-eabi-gcc", *flags, "-Wall", "-Werror", "-c", str(source), "-o",
                               str(source.with_suffix(".o"))], capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
    refused = CliRunner().invoke(main, ["export", "stmnist_v1", str(tmp_path / "x"), "-b", "tflite"])
    assert refused.exit_code == 2 and "builds no C model library" in refused.output and "tvm-cortexm55" in refused.output


#: MVE multiply(-accumulate) instructions on vector registers: what a Helium conv/depthwise/FC kernel is made of.
_MVE_MAC = re.compile(r"^\s*[0-9a-f]+:\s+(?:[0-9a-f]{4}\s)+\s*v(?:mla|mlav|mlava|mladav|mladava|mlalv|mul|mull[bt]|"
                      r"q?r?dmulh)\.\S+\s+.*\bq[0-7]\b", re.MULTILINE)


def mve_macs(objects: list[Path], arch: str) -> int:
    """MVE multiply(-accumulate) instructions in the disassembly of `objects` (objdump told the target's
    architecture: without it, binutils 2.40 shows MVE instructions as coprocessor ops)."""
    proc = subprocess.run(["arm-none-eabi-objdump", "-d", "-m", arch, *map(str, objects)], capture_output=True,
                          text=True, timeout=60, check=True)
    return len(_MVE_MAC.findall(proc.stdout))


def test_cortexm55_kernels_multiply_with_helium() -> None:
    """The M55 build multiplies with MVE in each Helium kernel (FULLY_CONNECTED's VLD4 + VMLADAVA, CONV_2D's
    VMLADAVA, DEPTHWISE_CONV_2D's VMULLB/VMULLT), and stmnist_v1's convolutions call them."""
    model = zoo.load("stmnist_v1", backend="tvm-cortexm55")
    build = model.runner.dir / "build" / "model"
    arch = load_target("cortexm55").arch
    for kernel in ("zoo_int8_fc.o", "zoo_int8_conv_mve.o", "zoo_int8_dwconv_mve.o"):
        assert mve_macs([build / kernel], arch) > 0, f"{kernel}: no MVE multiply in the M55 build"
    calls = (model.runner.dir / "library" / "stmnist_v1_model.c").read_text()
    # every convolution (the one-channel first one too) on the records entry, both depthwise layers on the
    # asm path's: none of the general paths is linked (the flash row, issue 14)
    assert calls.count("zoo_conv2d_s8_mve_rq(") == 3 and calls.count("zoo_dwconv_s8_mve_fast(") == 2
    assert "zoo_dwconv_s8_mve(" not in calls and "zoo_conv2d_s8_mve(" not in calls and "zoo_conv2d_s8_c1(" not in calls
    symbols = subprocess.run(["arm-none-eabi-nm", str(model.runner.dir / "fw.elf")], check=True, timeout=60,
                             capture_output=True, text=True).stdout
    assert "dw_fast_asm" in symbols and "dw_pixel" not in symbols and "dw_small" not in symbols
    assert "conv_channels4_rq" in symbols and "conv_channels4_lshift" not in symbols and "conv_const4" not in symbols
    m7 = zoo.load("stmnist_v1", backend="tvm-cortexm7")
    assert not re.search(r"_mve(_fast|_rq)?\(", (m7.runner.dir / "library" / "stmnist_v1_model.c").read_text())
    assert mve_macs(sorted((m7.runner.dir / "build" / "model").glob("zoo_int8_*.o")), arch) == 0


def test_mve_instructions_are_recognized_in_a_disassembly(tmp_path: Path) -> None:
    """The disassembly check itself, on a known Helium loop (arm_mve.h's vmladavaq_s8) against the M4's DSP code."""
    src = tmp_path / "dot.c"
    src.write_text("#include <stdint.h>\n#ifdef __ARM_FEATURE_MVE\n#include <arm_mve.h>\n#endif\n"
                   "int32_t dot(const int8_t *a, const int8_t *b, int n) {\n  int32_t acc = 0;\n"
                   "#ifdef __ARM_FEATURE_MVE\n  for (int i = 0; i < n; i += 16) acc = vmladavaq_s8(acc, vld1q_s8(a + i), "
                   "vld1q_s8(b + i));\n#else\n  for (int i = 0; i < n; ++i) acc += a[i] * b[i];\n#endif\n  return acc;\n}\n")
    counts = {}
    for name in ("cortexm55", "cortexm4"):
        obj = tmp_path / f"{name}.o"
        subprocess.run(["arm-none-eabi-gcc", *load_target(name).cflags, "-O2", "-c", str(src), "-o", str(obj)],
                       capture_output=True, text=True, timeout=60, check=True)
        counts[name] = mve_macs([obj], load_target(name).arch)
    assert counts["cortexm55"] >= 1 and counts["cortexm4"] == 0, counts


def test_every_card_platform_core_has_a_target() -> None:
    """Each platform core a registered card names (ST's STM32L0/L4/U5/H7 for stmnist_v1) is measured by a target."""
    from zoo.backends.tvm_cortexm7.targets import target_for_core

    cores = {p.core for name in zoo.list_models() for p in zoo.get_card(name).platforms if p.core}
    assert {"Cortex-M0+", "Cortex-M4", "Cortex-M33", "Cortex-M7"} <= cores
    found = {core: target_for_core(core) for core in cores}
    assert all(found.values()), found
    assert found["Cortex-M0+"].name == "cortexm0" and found["Cortex-M4"].name == "cortexm4"
    assert target_for_core("Cortex-A7") is None


def test_mlperf_ic01_does_not_fit_the_cortexm0() -> None:
    """A registered model too large for a part: the link fails cleanly, naming the region and the overflow
    (mlperf_ic01's 35 KB of RAM against the nRF51822's 16 KB; kws01, 13.7 KB since its convolutions write
    over their inputs, now fits)."""
    with pytest.raises(ModelTooLargeError, match=r"does not fit the nRF51822.*RAM \(16,384 B, holds data, stack\) "
                                                 r"overflowed by [\d,]+ bytes") as info:
        zoo.load("mlperf_ic01", backend="tvm-cortexm0")
    fit = info.value.fit()
    assert not fit["fits"] and fit["part"] == "nRF51822" and info.value.overflow["RAM"] > 0
    assert {r["region"]: r["overflow_bytes"] for r in fit["regions"]} == {"FLASH": 0, "RAM": info.value.overflow["RAM"]}
