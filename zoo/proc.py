"""Running external tools (compilers, linkers, emulators) with a timeout that really stops them."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

__all__ = ["run"]


def run(cmd: Sequence[str], timeout: float, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `cmd`, capturing text output; on timeout (or interrupt) kill its whole process group and re-raise.

    ``subprocess.run(timeout=...)`` kills only the direct child: a compiler driver's cc1 or a
    wrapper script's children keep the pipes open and the call keeps waiting. Here the tool
    runs in its own session, and the whole group is killed.

    Raises:
        subprocess.TimeoutExpired: the tool ran past `timeout` seconds (it has been killed).
        OSError: the tool cannot be started.
    """
    proc = subprocess.Popen(list(cmd), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:  # the timeout, and Ctrl-C too: the tool's own session never sees the terminal's SIGINT
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
