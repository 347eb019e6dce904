"""Running external tools (compilers, linkers, emulators) so that they never outlive zoo.

Each tool runs in its own session and process group, under a timeout. Whatever way the call
ends - the tool exits, the timeout expires, Ctrl-C, SIGTERM or SIGHUP reach zoo, an exception -
the whole group is killed before :func:`run` returns or raises. SIGTERM and SIGHUP are turned
into ``SystemExit(128 + signal)`` while a tool runs (when zoo has no handler of its own for them),
so every ``finally`` of the caller runs too. On Linux each tool is also tied to the life of zoo
with ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (see prctl(2)): even a SIGKILL of zoo, which no handler
can see, takes the tool down with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType

__all__ = ["exit_on_signals", "run"]

FORWARDED = (signal.SIGTERM, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_REAP_TIMEOUT_S = 10
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _child_setup(parent: int) -> Callable[[], None] | None:
    """``preexec_fn``: ask the kernel to SIGKILL the tool when zoo dies (Linux), and close the race with
    a parent that died before the request was made."""
    if _libc is None:
        return None

    def setup() -> None:
        if _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0 or os.getppid() != parent:
            os._exit(127)

    return setup


def _raise_exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def exit_on_signals() -> None:
    """Make SIGTERM and SIGHUP raise ``SystemExit(128 + signal)`` in this process (main thread only).

    The CLI calls it once at start-up, so a terminated ``zoo`` cleans up (temporary files, tools) as
    it does on Ctrl-C.
    """
    if threading.current_thread() is threading.main_thread():
        for sig in FORWARDED:
            signal.signal(sig, _raise_exit)


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """While a tool runs: SIGTERM/SIGHUP raise SystemExit where they would otherwise kill zoo outright."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in FORWARDED}
    for sig, handler in previous.items():
        if handler == signal.SIG_DFL:
            signal.signal(sig, _raise_exit)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler == signal.SIG_DFL:
                signal.signal(sig, handler)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def run(cmd: Sequence[str], timeout: float, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `cmd`, capturing text output; its whole process group is killed on every way out.

    ``subprocess.run(timeout=...)`` kills only the direct child: a compiler driver's cc1 or a
    wrapper script's children keep the pipes open and the call keeps waiting. Here the tool runs
    in its own session, and the whole group is killed: on timeout, on any exception or signal in
    zoo, and after a normal exit too (nothing it started in the background survives it).

    Args:
        cmd: the program and its arguments.
        timeout: seconds before the tool is killed.
        cwd: its working folder.

    Returns:
        The completed process (return code, stdout, stderr).

    Raises:
        subprocess.TimeoutExpired: the tool ran past `timeout` seconds (it has been killed).
        OSError: the tool cannot be started.
        SystemExit: zoo received SIGTERM or SIGHUP while the tool ran (the tool has been killed).

    Example:
        >>> run(["echo", "hi"], timeout=5).stdout
        'hi\\n'
    """
    with _signals_raise():
        proc = subprocess.Popen(list(cmd), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                errors="replace", start_new_session=True, preexec_fn=_child_setup(os.getpid()))
        try:
            out, err = proc.communicate(timeout=timeout)
        except BaseException:  # the timeout, Ctrl-C (the tool's own session never sees the terminal's SIGINT), signals
            _kill_group(proc)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.communicate(timeout=_REAP_TIMEOUT_S)
            raise
        finally:
            _kill_group(proc)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
