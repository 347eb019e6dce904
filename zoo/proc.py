"""Running external tools (compilers, linkers, emulators) so that they never outlive zoo.

Each tool runs in its own session and process group, under a timeout. Whatever way the call
ends - the tool exits, the timeout expires, Ctrl-C, SIGTERM or SIGHUP reach zoo, an exception -
the whole group is killed before :func:`run` returns or raises. SIGTERM and SIGHUP are turned
into ``SystemExit(128 + signal)`` while a tool runs (when zoo has no handler of its own for them),
so every ``finally`` of the caller runs too. On Linux each tool is also tied to the life of zoo
with ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (see prctl(2)): even a SIGKILL of zoo, which no handler
can see, takes the tool down with it.

:class:`Tools` runs several tools at once the same way (emulator shards): each has its own deadline,
and leaving the ``with`` block by any way other than collecting every tool (an error in one shard,
a timeout, a signal, Ctrl-C) kills every one still running.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO

__all__ = ["exit_on_signals", "run", "Tools", "ToolTimeout"]

FORWARDED = (signal.SIGTERM, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_REAP_TIMEOUT_S = 10
_POLL_S = 0.05  # wait granularity of Tools where pidfd_open(2) is missing
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


def _kill_group(proc: subprocess.Popen) -> None:
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


class ToolTimeout(subprocess.TimeoutExpired):
    """A tool of :class:`Tools` ran past its deadline (it has been killed); ``tag`` says which."""

    def __init__(self, tag: Hashable, cmd: Sequence[str], timeout: float) -> None:
        super().__init__(list(cmd), timeout)
        self.tag = tag


@dataclass
class _Tool:
    tag: Hashable
    proc: subprocess.Popen[bytes]
    out: IO[bytes]
    err: IO[bytes]
    timeout: float
    deadline: float
    pidfd: int | None


class Tools:
    """Several tools running at once, each as :func:`run` runs one (own session and process group,
    PDEATHSIG, a timeout), collected as they finish.

    Use it as a context manager: when the block ends - normally, by an exception (a failed shard, a
    :class:`ToolTimeout`), Ctrl-C, or SIGTERM/SIGHUP turned into ``SystemExit`` - every tool still running is
    killed with its whole group and reaped before the block is left.

    Example:
        >>> with Tools() as tools:
        ...     _ = [tools.start(["echo", str(k)], timeout=5, tag=k) for k in range(2)]
        ...     sorted(tools.wait_any()[1].stdout.strip() for _ in range(2))
        ['0', '1']
    """

    def __init__(self) -> None:
        self._running: dict[Hashable, _Tool] = {}
        self._signals = _signals_raise()

    def __enter__(self) -> Tools:
        self._signals.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            for tool in self._running.values():  # every group first: a signal while one is reaped kills no fewer
                _kill_group(tool.proc)
            for tool in list(self._running.values()):
                self._close(tool)
        finally:
            self._signals.__exit__(kind, exc, tb)

    def __len__(self) -> int:
        """How many tools are running (started and not yet collected)."""
        return len(self._running)

    def start(self, cmd: Sequence[str], timeout: float, tag: Hashable, cwd: Path | None = None) -> None:
        """Start `cmd` (stdout and stderr captured in anonymous files); `tag` names it in :meth:`wait_any`.

        Raises:
            OSError: the tool cannot be started.
            ValueError: `tag` is already running.
        """
        if tag in self._running:
            raise ValueError(f"a tool tagged {tag!r} is already running")
        out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        try:
            proc = subprocess.Popen(list(cmd), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True, preexec_fn=_child_setup(os.getpid()))
        except BaseException:
            out.close()
            err.close()
            raise
        self._running[tag] = _Tool(tag, proc, out, err, timeout, time.monotonic() + timeout, _pidfd(proc.pid))

    def wait_any(self) -> tuple[Hashable, subprocess.CompletedProcess[str]]:
        """Wait until a running tool exits; collect it (its group is killed) and return its tag and result.

        Raises:
            ToolTimeout: a tool ran past its timeout first (it has been killed and collected).
            ValueError: nothing is running.
        """
        if not self._running:
            raise ValueError("no tool is running")
        while True:
            for tool in list(self._running.values()):
                if tool.proc.poll() is not None:
                    return tool.tag, self._close(tool)
            now = time.monotonic()
            late = next((t for t in self._running.values() if t.deadline <= now), None)
            if late is not None:
                self._close(late)
                raise ToolTimeout(late.tag, late.proc.args, late.timeout)
            wait = min(t.deadline for t in self._running.values()) - now
            fds = [t.pidfd for t in self._running.values() if t.pidfd is not None]
            if len(fds) == len(self._running):
                select.select(fds, [], [], wait)
            else:
                time.sleep(min(wait, _POLL_S))

    def _close(self, tool: _Tool) -> subprocess.CompletedProcess[str]:
        """Kill the tool's group, reap it, read its output and release its files."""
        del self._running[tool.tag]
        try:
            _kill_group(tool.proc)
            with contextlib.suppress(subprocess.TimeoutExpired):
                tool.proc.wait(timeout=_REAP_TIMEOUT_S)
            texts = []
            for f in (tool.out, tool.err):
                f.seek(0)
                texts.append(f.read().decode(errors="replace"))
        finally:
            for f in (tool.out, tool.err):
                f.close()
            if tool.pidfd is not None:
                os.close(tool.pidfd)
        return subprocess.CompletedProcess(tool.proc.args, tool.proc.returncode, texts[0], texts[1])


def _pidfd(pid: int) -> int | None:
    """A file descriptor that becomes readable when `pid` exits (pidfd_open(2), Linux 5.3), or None."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None
