"""Runs the custody log's sequencer (``services.core.custody_log``): on demand (``flask biobank
sequence``, ``flask biobank checkpoint``) and in the background of every app process.

Every process runs a background sequencer, but one at a time does the work: each pass tries
the sequencer lock and steps aside when another process holds it. A pass that finds nothing to
do costs one indexed read. When ``BIOBANK_CHECKPOINT_DIR`` is set, the thread also writes a
signed checkpoint there every ``BIOBANK_CHECKPOINT_INTERVAL`` seconds (a directory the
operator ships elsewhere, where the database's users cannot rewrite it).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from biobank.db import utcnow
from biobank.extensions import db
from biobank.models import Event
from biobank.services.core import custody_log
from biobank.unit_of_work import unit_of_work

log = logging.getLogger(__name__)


def sequence_pending(*, wait: bool = False, batch: int = custody_log.SEQUENCE_BATCH) -> int:
    """Sequence every committed event, a batch per transaction. ``wait``: queue for the lock
    when another sequencer holds it (so that everything committed before the call is in the
    tree when it returns); otherwise step aside. Answers how many events this call added."""
    total = 0
    while True:
        waiting = db.session.scalar(sa.select(Event.id).where(Event.log_index.is_(None)).limit(1))
        db.session.rollback()  # end the read: the batch below is its own write transaction
        if waiting is None:
            return total
        with unit_of_work():
            if not custody_log.take_sequencer_lock(wait=wait):
                return total
            done = custody_log.sequence_batch(batch)
        total += done
        if done < batch:
            return total


def write_checkpoint(directory: Path) -> Path:
    """The newest signed checkpoint as ``checkpoint-<size>.txt`` in ``directory`` (written to
    a temporary name first, so a reader never sees half a file)."""
    checkpoint = custody_log.signed_checkpoint()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"checkpoint-{checkpoint.tree_size:012d}.txt"
    partial = path.with_suffix(".partial")
    partial.write_text(checkpoint.note)
    os.replace(partial, path)
    return path


class BackgroundSequencer(threading.Thread):
    """One per process: sequences every ``interval`` seconds until the process ends."""

    def __init__(self, app: Flask, interval: float) -> None:
        super().__init__(name="custody-sequencer", daemon=True)
        self.app = app
        self.interval = interval
        self.stopped = threading.Event()
        self.last_checkpoint = 0.0

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            with self.app.app_context():
                try:
                    sequence_pending()
                    self._checkpoint_when_due()
                except Exception:  # the next pass retries; a request never waits on this
                    log.exception("the custody log's background sequencer failed a pass")
                finally:
                    db.session.remove()

    def _checkpoint_when_due(self) -> None:
        directory = self.app.config["BIOBANK_CHECKPOINT_DIR"]
        now = utcnow().timestamp()
        if (
            directory
            and now - self.last_checkpoint >= self.app.config["BIOBANK_CHECKPOINT_INTERVAL"]
        ):
            write_checkpoint(Path(directory))
            self.last_checkpoint = now


_running: dict[int, BackgroundSequencer] = {}
_running_lock = threading.Lock()


def start_background_sequencer(app: Flask) -> BackgroundSequencer | None:
    """This process's background sequencer, started on first use (after a server forks its
    workers: a thread does not survive a fork)."""
    interval = app.config["BIOBANK_SEQUENCER_INTERVAL"]
    if not interval:
        return None
    pid = os.getpid()
    with _running_lock:
        running = _running.get(pid)
        if running is None or not running.is_alive():
            running = _running[pid] = BackgroundSequencer(app, interval)
            running.start()
    return running


def init_background_sequencer(app: Flask) -> None:
    if not app.config["BIOBANK_SEQUENCER_INTERVAL"]:
        return

    @app.before_request
    def ensure_sequencer_runs() -> None:
        if os.getpid() not in _running:
            start_background_sequencer(app)
