"""Program-wide figures that are expensive at scale, kept for a short while.

Freezer fill and the collection-to-freezer distribution aggregate every stored tube: at a
million tubes that is hundreds of milliseconds, paid on every dashboard view. These figures
move slowly, so each process keeps the last answer for ``BIOBANK_FIGURE_CACHE_SECONDS``
(0 turns it off). Work queues (what is waiting for *this* user) are never cached.

Only plain values are kept (never ORM objects, which belong to one session), keyed by the
database so two apps in one process never see each other's figures.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from biobank.extensions import db
from biobank.services.core.settings import setting

T = TypeVar("T")


@dataclass(frozen=True)
class _Entry:
    value: Any
    expires: float


_entries: dict[tuple[Hashable, ...], _Entry] = {}
_lock = threading.Lock()


def cached_figure(name: str, compute: Callable[[], T], *key: Hashable) -> T:
    """``compute()``'s answer, reused for the configured number of seconds."""
    seconds = setting("BIOBANK_FIGURE_CACHE_SECONDS")
    if seconds <= 0:
        return compute()
    full_key = (db.engine.url.render_as_string(hide_password=True), name, *key)
    now = time.monotonic()
    with _lock:
        entry = _entries.get(full_key)
    if entry is not None and entry.expires > now:
        return entry.value
    value = compute()
    with _lock:
        _entries[full_key] = _Entry(value, now + seconds)
    return value


def forget_all() -> None:
    with _lock:
        _entries.clear()
