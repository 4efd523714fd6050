"""Progress of long work on the command line: a league's generations (elapsed, ETA, the latest
throughput and leaders), pretraining epochs, fine-tuning steps. On a terminal, `rich`'s live
bar; elsewhere (job logs, CI, pipes) one plain line per generation, so logs stay readable."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from socius.platform.types import GenerationRecord


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                    TextColumn("{task.fields[latest]}"), console=console)


def leaders(record: GenerationRecord, count: int = 3) -> str:
    top = sorted(record.ratings.items(), key=lambda kv: -kv[1])[:count]
    return ", ".join(f"{member} {rating:.1f}" for member, rating in top)


def generation_summary(record: GenerationRecord) -> str:
    return (f"{record.throughput['trained']:,.0f} agent-steps/s trained, "
            f"{record.episodes} matches; top: {leaders(record)}")


class LeagueProgress:
    """`log` for messages and `on_record` for finished generations, for `run_league`."""

    def __init__(self, generations: int, done: int = 0, console: Console | None = None):
        self.console = console or Console()
        self.live = self.console.is_terminal
        self.progress = _progress(self.console) if self.live else None
        self.task = self.progress.add_task("generations", total=generations, completed=done,
                                           latest="") if self.progress else None

    def __enter__(self) -> LeagueProgress:
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.progress:
            self.progress.stop()

    def log(self, line: str) -> None:
        if self.progress:
            self.progress.console.print(line, markup=False, highlight=False)
        else:
            print(line, flush=True)

    def on_record(self, record: GenerationRecord) -> None:
        if self.progress:
            self.progress.update(self.task, completed=record.generation + 1,
                                 latest=generation_summary(record))
        else:
            print(f"generation {record.generation}: {generation_summary(record)}", flush=True)


@contextmanager
def steps_progress(description: str, console: Console | None = None
                   ) -> Iterator[Callable[[int, int], None]]:
    """An `on_progress(done, total)` callback that draws a bar (on a terminal) for pretraining
    epochs or fine-tuning steps; a no-op elsewhere."""
    console = console or Console(file=sys.stderr)
    if not console.is_terminal:
        yield lambda done, total: None
        return
    with _progress(console) as progress:
        task = progress.add_task(description, total=None, latest="")

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update
