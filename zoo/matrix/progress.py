"""The live progress display of `zoo matrix`: jobs done / running / failed, elapsed time, ETA.

On a terminal it is a rich progress bar with one line printed above it per event; elsewhere
(CI logs) only the lines are printed.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from zoo.matrix.jobs import Job, JobOutcome

__all__ = ["ProgressDisplay"]


class ProgressDisplay:
    """Matrix events shown on `console` (an :class:`~zoo.matrix.executors.Events`); use as a context manager."""

    def __init__(self, total: int, console: Console) -> None:
        self.console = console
        self.running: set[str] = set()
        self.failed = 0
        self.progress = Progress(TextColumn("matrix"), BarColumn(), MofNCompleteColumn(), TextColumn("done"),
                                 TextColumn("{task.fields[running]} running, {task.fields[failed]} failed"),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                 console=console, transient=False, disable=not console.is_terminal)
        self.task = self.progress.add_task("matrix", total=total, running=0, failed=0)

    def __enter__(self) -> ProgressDisplay:
        self.progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.progress.stop()

    def _say(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def _refresh(self, advance: int = 0) -> None:
        self.progress.update(self.task, advance=advance, running=len(self.running), failed=self.failed)

    def started(self, job: Job, worker: str) -> None:
        self.running.add(job.key)
        self._say(f"[dim]start[/] {escape(job.key)} on {escape(worker)}")
        self._refresh()

    def retrying(self, job: Job, error: str) -> None:
        self.running.discard(job.key)
        self._say(f"[yellow]retry[/] {escape(job.key)}: {escape(error)}")
        self._refresh()

    def finished(self, outcome: JobOutcome) -> None:
        self.running.discard(outcome.job.key)
        if outcome.ok:
            statuses = sorted({e.get("status", "?") for e in outcome.result["entries"].values()})
            self._say(f"[green]done[/]  {escape(outcome.job.key)}: {', '.join(statuses)} ({outcome.seconds or 0:.1f} s)")
        else:
            self.failed += 1
            self._say(f"[bold red]failed[/] {escape(outcome.job.key)}: {escape(' | '.join(outcome.errors))}")
        self._refresh(advance=1)
