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
from concurrent.futures import Future

import numpy as np

from zoo.backend import LOGITS
from zoo.errors import BackendError, ZooError

__all__ = ["REFERENCE_CHUNK", "Reference", "ReferenceRun", "chunked_outputs"]

Reference = tuple[dict[str, np.ndarray], np.ndarray | None]  # outputs by the card's names, logits
#: images per reference call: how soon a cancelled validation's reference thread stops (~0.5 s of TFLM)
REFERENCE_CHUNK = 256


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
        """Begin computing (once; later calls do nothing). A daemon thread: a process that ends without
        reading the outputs (an error, Ctrl-C, pytest -x) does not wait for it."""
        with self._lock:
            if self._future is not None:
                return
            if self._on_start is not None:
                self._on_start()
            future: Future[Reference] = Future()
            future.set_running_or_notify_cancel()
            self._future = future
            threading.Thread(target=self._fill, args=(future,), name="zoo-reference", daemon=True).start()

    def _fill(self, future: Future[Reference]) -> None:
        try:
            value = self._compute(self._stop)
        except BaseException as exc:  # noqa: BLE001 - handed to whoever reads the outputs
            future.set_exception(exc)
        else:
            future.set_result(value)

    def raise_if_failed(self) -> None:
        """The reference's error, if it has already failed (so that later backends do not run for nothing)."""
        f = self._future
        if f is not None and f.done() and f.exception() is not None:
            raise f.exception()

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
        return f is not None and f.done() and f.exception() is exc

    def cancel(self) -> None:
        """Stop the computation at its next chunk: no one will read it."""
        self._stop.set()


def chunked_outputs(run: Callable[[np.ndarray], dict[str, np.ndarray]], names: list[str], images: np.ndarray,
                    stop: threading.Event, backend: str = "reference") -> Reference:
    """``run(images)`` chunk by chunk (:data:`REFERENCE_CHUNK`) until `stop` is set: the outputs named `names`
    and the logits (None without), as one array each.

    Raises:
        BackendError: the reference failed on a chunk (the message names `backend` and the images).
        ZooError: `stop` was set.
    """
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, max(len(images), 1), REFERENCE_CHUNK):
        if stop.is_set():
            raise ZooError("validation cancelled: the reference's outputs were not computed")
        chunk = images[start:start + REFERENCE_CHUNK]
        try:
            parts.append(run(chunk))
        except Exception as exc:  # noqa: BLE001 - named as the reference's failure, the cause kept
            raise BackendError(f"the reference backend {backend} failed on evaluation images {start}-"
                               f"{start + len(chunk) - 1} of {len(images)} (within them: {exc})") from exc
    outputs = {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
    logits = outputs.pop(LOGITS, None)
    return {name: outputs[name] for name in names}, logits
