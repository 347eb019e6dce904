"""Benchmark: wall time of the full conformance matrix (every registered model x every backend, all
evaluation images) on the local pool with 1 worker, the local pool with N workers, and Ray (a local
cluster with N CPUs started for the run), on this machine.

Each configuration starts from an empty zoo cache of its own (artifacts come from the mirror or
their URLs, every compiled form is built again), as a fresh CI machine would; ``--warm`` instead
fills one cache first and times every configuration on it (the jobs' own work only). The matrices
of all configurations must agree: a configuration whose results differ is reported.

Usage: python ci/matrix_benchmark.py [--workers N] [--models M ...] [--backends B ...] [--limit N]
                                     [--warm] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from zoo.matrix import LocalExecutor, plan, ray_executor, run_matrix


def _timed(name: str, executor: Any, jobs: list, cache: Path) -> dict[str, Any]:
    os.environ["ZOO_CACHE_DIR"] = str(cache)  # the pool's processes and the local Ray cluster inherit it
    start = time.perf_counter()
    data = run_matrix(jobs, executor)
    wall = time.perf_counter() - start
    tries = sum(j["attempts"] for j in data["jobs"].values())
    job_s = sum(j["seconds"] or 0 for j in data["jobs"].values())
    print(f"{name:<22} {wall:8.1f} s wall   {job_s:8.1f} s in jobs   {tries} tries", flush=True)
    for key, job in data["jobs"].items():
        for error in job["errors"]:
            print(f"    {key}: {error[:300]}", flush=True)
    return {"name": name, "executor": data["executor"], "wall_s": wall, "job_s": job_s, "tries": tries,
            "models": data["models"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="N (default: one per core)")
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--backends", nargs="*", default=None)
    parser.add_argument("--limit", type=int, default=None, help="evaluation images per job (default: all)")
    parser.add_argument("--warm", action="store_true", help="time every configuration on one filled cache")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    jobs = plan(args.models, args.backends, args.limit)
    n = args.workers
    configs = [("local, 1 worker", LocalExecutor(1)), (f"local, {n} workers", LocalExecutor(n)),
               (f"ray, {n} CPUs", ray_executor(workers=n))]
    print(f"{len(jobs)} jobs ({', '.join(j.key for j in jobs)}); {platform.node()}, {os.cpu_count()} cores; "
          f"{'warm' if args.warm else 'cold'} cache", flush=True)
    with tempfile.TemporaryDirectory(prefix="zoo-matrix-bench-") as tmp:
        shared = Path(tmp) / "warm"
        if args.warm:
            _timed("warm-up (not timed)", LocalExecutor(n), jobs, shared)
        runs = [_timed(name, executor, jobs, shared if args.warm else Path(tmp) / f"cache{i}")
                for i, (name, executor) in enumerate(configs)]
    base = runs[0]["wall_s"]
    for run in runs:
        same = "same results" if run["models"] == runs[0]["models"] else "RESULTS DIFFER from local, 1 worker"
        print(f"{run['name']:<22} speed-up x{base / run['wall_s']:.2f}   {same}")
    if args.json:
        args.json.write_text(json.dumps({"jobs": [j.key for j in jobs], "warm": args.warm, "cores": os.cpu_count(),
                                         "runs": [{k: v for k, v in r.items() if k != "models"} for r in runs]},
                                        indent=2) + "\n")


if __name__ == "__main__":
    main()
