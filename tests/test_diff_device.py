"""The device backends' layers: an instrumented build of the real firmware (arm-none-eabi-gcc, QEMU
mps2-an500) writes every layer's output and every layer's instruction span; `zoo diff` compares them
with TFLM layer by layer, a deliberately wrong layer on the device is caught at exactly that layer,
and the per-layer instructions add up to the normal build's per-inference figure."""

from __future__ import annotations

import hashlib
import json
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import zoo
from zoo.cli import main
from zoo.conformance.golden import load_golden
from zoo.errors import BackendError, ToolchainError
from zoo.tflite_model import read_tflite

REPO = Path(__file__).resolve().parents[1]
PLUGINS = Path(__file__).parent / "plugins"
M7 = "tvm-cortexm7"


def _device() -> None:
    available = zoo.registry.backend_availability(M7)
    if not available:
        pytest.skip(available.message())


@pytest.fixture
def device_doubles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Install the device test double as a distribution with an entry point, the way a third party would."""
    dist = tmp_path / "zoo_device_doubles-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: zoo-device-doubles\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[zoo.backends]\ntest-m7-nudge-op3 = zoo_device_doubles:NudgedCortexM7Op3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(PLUGINS))
    monkeypatch.delitem(sys.modules, "zoo_device_doubles", raising=False)


def _artifact(model: str) -> Path:
    card = zoo.get_card(model)
    return zoo.artifacts.fetch(card.name, card.artifact(None), base_dir=zoo.registry.card_path(card.name).parent)


@pytest.mark.emulator
def test_stmnist_every_device_layer_is_tflms(tmp_path: Path) -> None:
    """The done criterion of issue 16: on all 473 golden vectors, every layer of the firmware is TFLM's; the
    output is the one the README shows."""
    _device()
    out = tmp_path / "d.json"
    command = f"zoo diff stmnist_v1 -b tflm -b {M7}"
    result = CliRunner().invoke(main, [*command.split()[1:], "--json", str(out)])
    assert result.exit_code == 0, result.output
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    shown = readme[readme.index(f"```text\n$ {command}\n") + len(f"```text\n$ {command}\n"):]
    assert result.stdout.replace(f"wrote {out}\n", "") == shown[:shown.index("```")]
    report = json.loads(out.read_text())
    assert report["scope"] == "layers" and report["identical"] and report["notes"] == []
    assert report["examples"] == 473
    assert [x["tensor"] for x in report["layers"]] == read_tflite(_artifact("stmnist_v1")).operator_outputs()
    assert {x["status"] for x in report["layers"]} == {"identical"}
    assert "every compared layer is identical (10 of 10)" in result.output


@pytest.mark.emulator
def test_ic01_device_layers_are_tflms_and_the_reshape_alias_is_reported() -> None:
    """ResNet-8: residual ADDs, an in-place arena and a RESHAPE the compiler folds away (reported as its
    input's bytes under its own operator and tensor)."""
    _device()
    report = zoo.diff.diff("mlperf_ic01", ["tflm", M7], limit=8)
    assert report.scope == "layers" and report.identical and report.notes == []
    reshape = next(x for x in report.layers if x.op == "RESHAPE")
    assert (reshape.operator, reshape.shape, reshape.status) == (13, (8, 64), "identical")


@pytest.mark.emulator
def test_a_wrong_layer_on_the_device_is_caught_at_exactly_that_layer(device_doubles: None, tmp_path: Path) -> None:
    """FW_TEST_NUDGE_OP=3 raises operator 3's output by one step on the device, before operator 4 reads it."""
    _device()
    out = tmp_path / "d.json"
    result = CliRunner().invoke(main, ["diff", "stmnist_v1", "-b", "tflm", "-b", "test-m7-nudge-op3", "-n", "32",
                                       "--json", str(out)])
    assert result.exit_code == 1, result.output
    report = json.loads(out.read_text())
    assert report["scope"] == "layers"
    assert report["first_differing"]["operator"] == 3 and report["first_differing"]["max_abs"] == 1
    assert [x["status"] for x in report["layers"][:3]] == ["identical"] * 3
    assert report["layers"][4]["status"] != "identical"  # the next layer computed on the wrong input
    # the normal build is untouched, and the report says that exposing the layers changed the outputs
    assert len(report["notes"]) == 1 and "other outputs than its normal run" in report["notes"][0]


@pytest.mark.emulator
def test_the_tensors_build_gives_the_normal_builds_outputs() -> None:
    from zoo.backends.tvm_cortexm7 import instrumented
    from zoo.backends.tvm_cortexm7.library import pack

    _device()
    golden = load_golden(zoo.get_card("mlperf_ic01"))
    with zoo.load("mlperf_ic01", backend=M7) as m:
        runner = m.runner
        flat = pack(runner.library.inputs, [golden.inputs[:6]])
        elf = runner.instrumented_elf(instrumented.TENSORS)
        packed, tensors = instrumented.run_tensors(runner.library, runner.target, elf, flat)
        normal = runner.target.run_batch(runner.elf, flat, layout=instrumented.record_layout(runner.library))
    assert np.array_equal(packed, normal.outputs)
    assert sorted(tensors) == sorted(read_tflite(_artifact("mlperf_ic01")).operator_outputs())


@pytest.mark.emulator
def test_a_large_batch_runs_in_chunks_with_the_same_tensors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Layer records are bounded per emulator start (BATCH_BYTES): here 3 inputs a start, 8 inputs."""
    from zoo.backends.tvm_cortexm7 import instrumented

    _device()
    x = load_golden(zoo.get_card("stmnist_v1")).inputs[:8]
    with zoo.load("stmnist_v1", backend=M7) as m:
        whole = m.run_intermediates(x)
        per_input = sum(h.nbytes for h in instrumented.hooks(m.runner.library))
        starts = []
        run_batch = m.runner.target.run_batch
        monkeypatch.setattr(instrumented, "BATCH_BYTES", 3 * per_input)
        monkeypatch.setattr(m.runner.target, "run_batch", lambda *a, **k: starts.append(len(a[1])) or run_batch(*a, **k))
        chunked = m.run_intermediates(x)
    assert starts == [3, 3, 2]
    assert sorted(chunked) == sorted(whole) and all(np.array_equal(chunked[t], whole[t]) for t in whole)


def test_a_library_without_layer_hooks_says_so(tmp_path: Path) -> None:
    """The float lowering writes no layer table: outputs only, with the reason and the fix."""
    from zoo.backends.tvm_cortexm7 import instrumented
    from zoo.backends.tvm_cortexm7.library import ModelLibrary

    lib = ModelLibrary(tmp_path, "m", tmp_path / "m.h", (), {"lowering": "float"})
    ok = instrumented.availability(lib)
    assert not ok and "float lowering's library has no layer hooks" in ok.reason and "lowering='int8'" in ok.fix
    with pytest.raises(BackendError, match="no layer hooks"):
        instrumented.hooks(lib)


@pytest.mark.emulator
@pytest.mark.parametrize("model", ["stmnist_v1", "mlperf_ic01"])
def test_layer_instructions_add_up_to_the_per_inference_figure(model: str) -> None:
    """Every layer is there, in order; their sum is the normal build's figure within one hook's own cost
    (29 instructions on the M7; measured: stmnist_v1 4, mlperf_ic01 9 instructions apart, of 1.18 M and
    17.8 M); the profile build's outputs are the normal build's."""
    from zoo.backends.tvm_cortexm7 import calibration_images, instrumented

    _device()
    with zoo.load(model, backend=M7) as m:
        prof = m.layer_instructions()
        lib, runner = m.runner.library, m.runner
        normal = runner.target.run_batch(runner.elf, calibration_images((1, lib.input_bytes)),
                                         layout=instrumented.record_layout(lib))
        recorded = json.loads((runner.instrumented_elf(instrumented.PROFILE).parent / "profile.json").read_text())
    ops = read_tflite(_artifact(model)).operators
    assert [(x.operator, x.op) for x in prof.layers] == [(op.index, op.name) for op in ops]
    assert prof.per_inference == m.instructions_per_inference()
    assert 0 < prof.hook_overhead < 64
    assert abs(prof.per_inference - prof.layer_sum) <= prof.hook_overhead, prof.as_dict()
    assert prof.unattributed == prof.per_inference - prof.layer_sum
    assert all(x.instructions > 0 for x in prof.layers if x.op != "RESHAPE")
    assert sum(x.share for x in prof.layers) == pytest.approx(1.0, abs=1e-4)
    convs = [x for x in prof.layers if x.op == "CONV_2D"]
    assert all(x.macs and x.macs > 0 for x in convs)
    assert recorded["outputs_sha256"] == [hashlib.sha256(row.tobytes()).hexdigest() for row in normal.outputs]


def test_damaged_layer_records_are_refused() -> None:
    """Cut, zeroed, reordered or bit-flipped layer records are errors naming the record, never tensors."""
    from zoo.backends.tvm_cortexm7.layer_records import Hook, frame_layer_record, parse_profile, parse_tensors

    hooks = [Hook(0, 14, 6), Hook(1, 15, 8)]
    records = [frame_layer_record(i, h.operator, h.tensor, bytes(range(i, i + h.nbytes))) for i in range(2) for h in hooks]
    good = b"".join(records)
    tensors = parse_tensors(good, 2, hooks, "fw.elf")
    assert tensors[0][1].tolist() == [1, 2, 3, 4, 5, 6] and tensors[1].shape == (2, 8)
    assert zlib.crc32(records[0][:-4]) == int(np.frombuffer(records[0][-4:], "<u4")[0])  # zlib's CRC-32
    flipped, head_flipped = bytearray(good), bytearray(good)
    flipped[25] ^= 1
    head_flipped[8] ^= 1  # record 0's operator field: damaged, not a reordered record
    cases = {"checksum does not match": bytes(flipped), "bytes of layer records": good[:-4],
             "operator #0 is corrupt: its checksum does not match": bytes(head_flipped),
             "magic word is wrong": bytes(len(good)),
             "input index is 1, expected 0": b"".join([records[2], records[1], records[0], records[3]]),
             "operator is 1, expected 0": b"".join([records[1], records[0], *records[2:]])}
    for why, raw in cases.items():
        with pytest.raises(ToolchainError, match=why):
            parse_tensors(raw, 2, hooks, "fw.elf")
    # records of different sizes swapped: intact, so reported as reordered, not as damage
    uneven = [Hook(0, 14, 6), Hook(1, 15, 16)]
    frames = [frame_layer_record(0, h.operator, h.tensor, bytes(h.nbytes)) for h in uneven]
    with pytest.raises(ToolchainError, match="operator #0 is corrupt: its operator is 1, expected 0"):
        parse_tensors(frames[1] + frames[0], 1, uneven, "fw.elf")
    payload = np.array([20, 0, 0, 0, 100, 0, 1, 0, 200, 0], "<u4").tobytes()
    prof = parse_profile(frame_layer_record(0, 0xFFFFFFFF, 2, payload), 1, hooks, "fw.elf")
    assert prof.overhead_ticks.tolist() == [20] and prof.spans.tolist() == [[100, 200]]
    wrong = np.array([20, 0, 0, 0, 100, 0, 2, 0, 200, 0], "<u4").tobytes()
    with pytest.raises(ToolchainError, match="span 1 is of hook 2, expected 1"):
        parse_profile(frame_layer_record(0, 0xFFFFFFFF, 2, wrong), 1, hooks, "fw.elf")


@pytest.mark.emulator
def test_validate_report_shows_each_device_layers_instructions(tmp_path: Path) -> None:
    _device()
    result = CliRunner().invoke(main, ["validate", "stmnist_v1", "-b", M7, "--limit", "40", "--no-timing",
                                       "--report", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r" / "report.json").read_text())["backends"][M7]["layer_instructions"]
    with zoo.load("stmnist_v1", backend=M7) as m:
        assert data == m.layer_instructions().as_dict()
    md = (tmp_path / "r" / "report.md").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| ") and "CONV" in line]
    assert len(rows) == 5 and "### tvm-cortexm7: instructions per layer" in md
    conv = next(x for x in data["layers"] if x["operator"] == 3)
    assert "| 3 | CONV_2D |" in md and f"{conv['instructions']:,}" in md and f"{conv['macs']:,}" in md
