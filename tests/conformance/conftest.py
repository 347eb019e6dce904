"""What the plain test run checks of the emulated targets other than the Cortex-M7 (ci/conformance.sh, one CI
job per backend, clears both variables and runs every model on every backend in full):

- the golden vectors only: a full 5,000-image stmnist_v1 run takes ~25 s per target, ~110 s on the Cortex-M0;
- stmnist_v1 and mlperf_kws01 only (the models the targets issue asks on all five cores): the golden vectors of
  ResNet-8 (mlperf_ic01: 273 inputs, 18 M instructions each) and of the other MLPerf models cost 20-100 s more per
  target and model. Measured on this 2-core machine under load (2026-12-01) with `zoo.load(model, backend=...)`
  and the golden inputs: kws01 46-69 s, ad01 17-20 s, ic01 76-102 s per target, compile included.
"""

import os

_NOT_M7 = "tvm-cortexm[!7]*"
os.environ.setdefault("ZOO_CONFORMANCE_GOLDEN_ONLY", "tvm-cortexm0,tvm-cortexm4,tvm-cortexm33,tvm-cortexm55")
os.environ.setdefault("ZOO_CONFORMANCE_EXCLUDE", ",".join(f"{m}:{_NOT_M7}" for m in ("mlperf_ad01", "mlperf_ic01",
                                                                                      "mlperf_vww01")))
