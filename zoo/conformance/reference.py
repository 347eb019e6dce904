"""The reference backend's outputs on a validation's evaluation images, computed in a thread.

A device backend's emulators are processes and its Python thread waits on them, so the reference (TFLM's
interpreter, one core) can run meanwhile. It starts when the first backend begins its own run on the
images (:meth:`ReferenceRun.start`), not before: TFLM holds the GIL while it invokes, which would starve
that backend's imports and compilation. Reading the outputs waits for them and raises the reference's own
error; :meth:`ReferenceRun.cancel` stops a run no one will read at its next chunk.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from zoo.backend import LOGITS
from zoo.errors import ZooError

__all__ = ["REFERENCE_CHUNK", "Reference", "ReferenceRun", "chunked_outputs"]

Reference = tuple[dict[str, np.ndarray], np.ndarray | None]  # outputs by the card's names, logits
#: images per reference call: how soon a cancelled validation's reference thread stops
REFERENCE_CHUNK = 1024


class ReferenceRun:
    """``compute(stop)`` once, in a thread of its own, from the first :meth:`start` or :meth:`result` on."""

    def __init__(self, compute: Callable[[threading.Event], Reference],
                 on_start: Callable[[], None] | None = None) -> None:
        self._compute, self._on_start = compute, on_start
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._future: Future[Reference] | None = None

    @classmethod
    def known(cls, outputs: dict[str, np.ndarray], logits: np.ndarray | None) -> ReferenceRun:
        """A run whose outputs are already at hand."""
        run = cls(lambda _stop: (outputs, logits))
        run._future = Future()
        run._future.set_result((outputs, logits))
        return run

    def start(self) -> None:
        """Begin computing (once; later calls do nothing)."""
        with self._lock:
            if self._future is not None:
                return
            if self._on_start is not None:
                self._on_start()
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zoo-reference")
            self._future = pool.submit(self._compute, self._stop)
            pool.shutdown(wait=False)  # the thread ends with its one task

    @property
    def future(self) -> Future[Reference] | None:
        """The computation, once started."""
        return self._future

    def result(self, timeout: float | None = None) -> Reference:
        """The outputs and logits (starting the run if needed, waiting for it); the reference's error if it failed."""
        self.start()
        assert self._future is not None
        return self._future.result(timeout)

    def failed_with(self, exc: BaseException) -> bool:
        """Whether `exc` is the reference's own error (raised on reading its outputs), not a backend's."""
        f = self._future
        return f is not None and f.done() and not f.cancelled() and f.exception() is exc

    def cancel(self) -> None:
        """Stop the computation at its next chunk: no one will read it."""
        self._stop.set()
        if self._future is not None:
            self._future.cancel()


def chunked_outputs(run: Callable[[np.ndarray], dict[str, np.ndarray]], names: list[str], images: np.ndarray,
                    stop: threading.Event) -> Reference:
    """``run(images, logits)`` chunk by chunk (:data:`REFERENCE_CHUNK`) until `stop` is set: the outputs named
    `names` and the logits (None without), as one array each."""
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, len(images), REFERENCE_CHUNK):
        if stop.is_set():
            raise ZooError("validation cancelled: the reference's outputs were not computed")
        parts.append(run(images[start:start + REFERENCE_CHUNK]))
    outputs = {k: np.concatenate([part[k] for part in parts]) for k in (parts[0] if parts else {})}
    logits = outputs.pop(LOGITS, None)
    return {name: outputs[name] for name in names}, logits
