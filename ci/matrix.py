"""Merge conformance job outputs into one matrix (models x backends).

Each job folder holds junit.xml and one JSON result per model (written by the conformance suite
with ZOO_CONFORMANCE_REPORT_DIR). Usage:
    python ci/matrix.py DIR [DIR ...] [--markdown FILE] [--json FILE] [--title TEXT]
"""

from __future__ import annotations

import argparse
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any


def _junit_counts(path: Path) -> dict[str, int]:
    if not path.is_file():
        return {}
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    keys = ("tests", "failures", "errors", "skipped")
    return {k: sum(int(s.get(k, 0)) for s in suites) for k in keys}


def collect(folders: list[Path]) -> dict[str, Any]:
    """Results keyed model -> entry, plus the JUnit counts of each job folder."""
    matrix: dict[str, dict[str, Any]] = {}
    jobs = {}
    for folder in folders:
        jobs[folder.name] = _junit_counts(folder / "junit.xml")
        for path in sorted(folder.glob("*.json")):
            record = json.loads(path.read_text())
            matrix.setdefault(record["model"], {})[record["entry"]] = record
    return {"models": matrix, "jobs": jobs}


def _cell(r: dict[str, Any]) -> list[str]:
    fp = r.get("footprint") or {}
    acc = r.get("accuracy")
    return [r["status"] + (f" ({r['reason'][:60]})" if r["status"] != "pass" and r.get("reason") else ""),
            "—" if acc is None else f"{acc * 100:.2f} %",
            "—" if r.get("max_abs_lsb") is None else str(r["max_abs_lsb"]),
            "—" if r.get("top1_agreement") is None else f"{r['top1_agreement'] * 100:.2f} %",
            f"{fp['flash_bytes']:,} / {fp['ram_bytes']:,}" if fp else "—",
            "—" if r.get("instructions_per_inference") is None else f"{r['instructions_per_inference']:,}"]


def markdown(data: dict[str, Any], title: str) -> str:
    lines = [f"# {title}", ""]
    for model, entries in sorted(data["models"].items()):
        dataset = next((e.get("dataset") for e in entries.values() if e.get("dataset")), None)
        lines += [f"## {model}" + (f" (accuracy on {dataset})" if dataset else ""), "",
                  "| backend | status | accuracy | max \\|Δ\\| LSB | top-1 agreement | flash / RAM (B) | instructions / inference |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {entry} | " + " | ".join(_cell(r)) + " |" for entry, r in sorted(entries.items())]
        lines.append("")
    lines += ["## Jobs", "", "| job | tests | failures | errors | skipped |", "|---|---|---|---|---|"]
    for job, c in sorted(data["jobs"].items()):
        lines.append(f"| {job} | " + " | ".join(str(c.get(k, "—")) for k in ("tests", "failures", "errors", "skipped")) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--title", default="Backend conformance matrix")
    args = parser.parse_args()
    data = collect([f for f in args.folders if f.is_dir()])
    if args.markdown:
        args.markdown.write_text(markdown(data, args.title))
    if args.json:
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    if not args.markdown and not args.json:
        print(markdown(data, args.title))


if __name__ == "__main__":
    main()
