"""The int8 layouts' gates: a layer reaches a fast kernel only when the kernel's 32-bit arithmetic is exact.

``zoo_conv2d_s8_fast`` / ``zoo_dwconv_s8_3x3`` build ``zoo_rq_mm``'s rounding constant
``(2 zp + 1) << (e - 1)`` in a 32-bit register; with e = 25 and zp = -128 it overflows while the
single-step half ``2^(e-2) + zp 2^(e-1)`` still fits, so that check alone let the layer through and the
kernel returned 0 where TFLM returns -128.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from zoo.backends.tvm_cortexm7.int8 import layout


def _layer_and_data(e: int, zp: int) -> tuple[SimpleNamespace, layout.KernelData]:
    layer = SimpleNamespace(kernel=(3, 3), depthwise=False, in_hwc=(8, 8, 4), out_zp=zp, act_min=-128, act_max=127)
    mult, shift = np.full(2, 1 << 30, np.int32), np.full(2, -e, np.int32)
    data = layout.KernelData(np.zeros(72, np.int8), np.zeros(2, np.int32), mult, shift,
                             rq=layout.single_step_requant(mult, shift, zp), flags=layout.FLAG_FULL8)
    return layer, data


@pytest.mark.parametrize(("e", "zp", "fast"), [(24, -128, True), (25, -128, False), (25, 63, True),
                                               (25, 64, False), (31, 0, True), (31, 1, False)])
def test_packed_kernels_only_where_the_rounding_constant_fits_32_bits(e: int, zp: int, fast: bool) -> None:
    layer, data = _layer_and_data(e, zp)
    assert data.rq is not None  # the single-step check alone would have let every case through
    assert layout.packable(layer, data) is fast
    assert (abs(2 * zp + 1) << (e - 1) < 2**31) is fast
