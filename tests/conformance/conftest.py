"""The default test run checks the emulated targets other than the Cortex-M7 on the golden vectors only
(280 images each: a full 5,000-image run takes ~25 s per target, ~110 s on the Cortex-M0, measured with
`ZOO_CONFORMANCE_BACKENDS=tvm-cortexm0,tvm-cortexm4,tvm-cortexm33,tvm-cortexm55 pytest tests/conformance`);
ci/conformance.sh, one CI job per backend, clears the variable and runs every backend on the full data."""

import os

os.environ.setdefault("ZOO_CONFORMANCE_GOLDEN_ONLY", "tvm-cortexm0,tvm-cortexm4,tvm-cortexm33,tvm-cortexm55")
