"""Real races for tests and benches: ``n`` threads released together by one barrier.

Each racer runs in its own app context, so it has its own session and its own database
connection (its own transaction), exactly as two requests in two server threads would. What
each racer did comes back as a ``Result``: its return value, or the exception it raised.
SQLite serialises every writer, so races are only meaningful on PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask

from biobank.errors import Conflict, DomainError
from biobank.extensions import db
from biobank.unit_of_work import unit_of_work

BARRIER_TIMEOUT_SECONDS = 60
JOIN_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Result:
    index: int
    value: Any = None
    error: BaseException | None = None
    seconds: float = 0.0

    @property
    def won(self) -> bool:
        return self.error is None

    @property
    def conflict(self) -> bool:
        """Refused with a 409 (Conflict, InvalidTransition, PositionTaken …)."""
        return isinstance(self.error, Conflict)

    @property
    def status(self) -> int:
        """The HTTP status this outcome becomes: 200 won, a DomainError's own, 500 otherwise."""
        if self.error is None:
            return int(getattr(self.value, "status_code", 200))
        if isinstance(self.error, DomainError):
            return self.error.status
        return 500

    @property
    def detail(self) -> str:
        if isinstance(self.error, DomainError):
            return self.error.detail
        return "" if self.error is None else f"{type(self.error).__name__}: {self.error}"

    def __repr__(self) -> str:
        if self.error is None:
            try:
                shown = repr(self.value)
            except Exception:  # a model whose session is gone: its type is enough
                shown = type(self.value).__name__
            return f"<{self.index} won {shown}>"
        return f"<{self.index} {type(self.error).__name__}: {self.detail}>"


def outcome(result: Result, *, won: str, wrong: type[BaseException]) -> str:
    """A password racer's outcome in a word: ``won``, "wrong" (the password was refused),
    "locked" (throttled before the password was looked at), or the crash it was."""
    from biobank.errors import TooManyAttempts

    if result.won:
        return won
    if isinstance(result.error, TooManyAttempts):
        return "locked"
    if isinstance(result.error, wrong):
        return "wrong"
    return f"crash: {result.detail}"


def race(app: Flask, n: int, fn: Callable[[int], Any], *, commit: bool = True) -> list[Result]:
    """Run ``fn(i)`` for i in 0..n-1 in ``n`` threads released at the same moment.

    With ``commit`` (the default) each call runs inside its own ``unit_of_work()``, as a view
    would: committed when it returns, rolled back when it raises. Without it ``fn`` owns its
    transactions (e.g. it makes HTTP requests through a test client).
    """
    start = threading.Barrier(n, timeout=BARRIER_TIMEOUT_SECONDS)
    results: list[Result | None] = [None] * n

    def run(index: int) -> None:
        began = 0.0
        with app.app_context():
            try:
                # Connect before the barrier: the race is between transactions, not connects.
                db.session.connection()
                db.session.rollback()
                start.wait()
                began = time.perf_counter()
                if commit:
                    with unit_of_work():
                        value = fn(index)
                else:
                    value = fn(index)
                results[index] = Result(index, value, seconds=time.perf_counter() - began)
            except BaseException as error:  # every outcome is reported, none is lost
                results[index] = Result(
                    index, error=error, seconds=time.perf_counter() - began if began else 0.0
                )
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT_SECONDS)
    hung = [i for i, thread in enumerate(threads) if thread.is_alive()]
    if hung:
        raise AssertionError(f"racers {hung} did not finish in {JOIN_TIMEOUT_SECONDS} s")
    return [r for r in results if r is not None]


def winners(results: Sequence[Result]) -> list[Result]:
    return [r for r in results if r.won]


def conflicts(results: Sequence[Result]) -> list[Result]:
    return [r for r in results if r.conflict]


def others(results: Sequence[Result]) -> list[Result]:
    """Neither a win nor a 409: crashes, 500s, deadlocks — always a failure."""
    return [r for r in results if not r.won and not r.conflict]
