"""A real local Ray cluster for the tests: ``ray start --head --block`` on 127.0.0.1 in a session of its own.

Every Ray process of the cluster (GCS, raylet, workers, agents) is in that session, so stopping
is exact: SIGTERM to ``ray start --block`` (Ray drains and stops its processes), then SIGKILL to
any process of the session that is still there, by its id. ``ray stop`` is never used: it would
stop every Ray cluster of the machine, other people's too.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 45
WORKERS = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_processes(sid: int) -> dict[int, str]:
    """pid -> command line of every process in session `sid` (read from /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
            if int(fields[3]) == sid:  # state ppid pgrp session ...
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except (OSError, ValueError, IndexError):
            continue  # the process ended while being read
    return found


@dataclass
class RayCluster:
    """A running cluster: its address, its session id (= the pid of ``ray start``), its workers' zoo cache,
    and the environment a driver needs to connect (the cluster's token: Ray's token authentication)."""

    address: str
    proc: subprocess.Popen[bytes]
    cache: Path
    log: Path
    driver_env: dict[str, str]
    ray_dir: Path

    def processes(self) -> dict[int, str]:
        return session_processes(self.proc.pid)

    def task_workers(self, function: str) -> list[int]:
        """pids of the workers running `function` now (Ray titles such a process ``ray::<function>``)."""
        return [pid for pid, cmd in self.processes().items() if cmd.startswith(f"ray::{function}")]

    def stop(self) -> dict[int, str]:
        """Stop every process of the cluster; returns those that had to be killed with SIGKILL."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.monotonic() + 10
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.5)
        left = self.processes()
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.ray_dir, ignore_errors=True)
        return left


def start_cluster(folder: Path, env: dict[str, str]) -> RayCluster:
    """Start the head node with two worker CPUs, two "emulator" units and a small object store.

    Its zoo cache (``ZOO_CACHE_DIR`` of its workers) is ``folder/cache``; Ray's files go to a
    short folder in /tmp, removed by :meth:`RayCluster.stop`. Raises RuntimeError with Ray's log
    if it does not come up.
    """
    # Ray's own files in a short folder: its socket paths must stay under 107 bytes (AF_UNIX)
    ray_dir, cache, log = Path(tempfile.mkdtemp(prefix="zr-", dir="/tmp")), folder / "cache", folder / "ray-start.log"
    port = _free_port()
    ports = {flag: str(_free_port()) for flag in (
        "--ray-client-server-port", "--dashboard-port", "--dashboard-agent-listen-port",
        "--dashboard-agent-grpc-port", "--metrics-export-port", "--node-manager-port", "--object-manager-port",
        "--runtime-env-agent-port")}
    cmd = [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
           "--port", str(port), "--num-cpus", str(WORKERS), "--resources", json.dumps({"emulator": WORKERS}),
           "--object-store-memory", str(100 * 2**20), "--include-dashboard", "false", "--disable-usage-stats",
           "--temp-dir", str(ray_dir), *[x for kv in ports.items() for x in kv]]
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}  # never ~/.ray/auth_token
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
                                env=env | auth | {"ZOO_CACHE_DIR": str(cache), "RAY_USAGE_STATS_ENABLED": "0"})
    cluster = RayCluster(f"127.0.0.1:{port}", proc, cache, log, env | auth, ray_dir)
    deadline = time.monotonic() + START_TIMEOUT_S
    while b"Ray runtime started" not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            cluster.stop()
            raise RuntimeError(f"ray start did not come up:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    return cluster
