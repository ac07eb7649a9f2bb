"""Cost per request: app CPU of a receipt scan and a look-up beside a JSON 404, on one gunicorn.

One gunicorn worker with one thread on PostgreSQL, one client sending one request at a time,
nothing else on the server. Requests of each kind go in batches, the kinds taking turns, so
the three are measured in one run under the same conditions (and the code before and now
on two servers side by side, taking turns batch by batch): a JSON 404 (``GET /api/v1/…`` that
no route answers: the floor any API request pays), a look-up by barcode
(``GET /api/v1/samples/<barcode>``) and a receipt scan (``POST …/receipt/scans`` with a fresh
``Idempotency-Key``). CPU is read from the kernel's per-thread run time of the worker (and of
the database's backends), so the figures hold whatever else the machine does.

The profile (a sampling profiler, py-spy, attached to the worker) splits each kind's CPU by
layer: the innermost frame of ours or of a library we call tells where a sample was spent.

    .venv/bin/python -m bench cost            # BIOBANK_COST_REQUESTS=… per kind (default 1500)
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from bench.bench_load import (
    DATABASE,
    ROOT,
    Server,
    _ours,
    _processes,
    load_database_url,
)
from bench.harness import bearer, bench_app, dispatched, finalized_tubes

REQUESTS = int(os.environ.get("BIOBANK_COST_REQUESTS", "1500"))
BATCH = 100
SHIPMENT_TUBES = 100
FLOOR_PATH = "/api/v1/no-such-resource"
KINDS = ("JSON 404", "look-up", "receipt scan")
# The code before the work on request cost (issue 19), measured beside the code as it is now.
BEFORE = os.environ.get("BIOBANK_COST_BEFORE", "b81863e")


def _thread_cpu_ns(pid: int) -> int:
    """On-CPU time of every thread of a process so far, in nanoseconds (0 once it is gone)."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for task in tasks:
        try:
            total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total


def _worker_pid(server: Server) -> int:
    workers = [pid for pid, ppid, _ in _processes() if ppid == server.process.pid]
    if len(workers) != 1:
        raise RuntimeError(f"expected one gunicorn worker, found {workers}")
    return workers[0]


def _database_pids() -> list[int]:
    return [pid for pid, _, name in _processes() if name == "postgres" and _ours(pid)]


class Client:
    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = headers

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
            headers["Idempotency-Key"] = str(uuid.uuid4())
        self.connection.request(method, path, body=data, headers=headers)
        response = self.connection.getresponse()
        return response.status, response.read()


class Work:
    """The requests of each kind, each checked: a wrong answer would measure the wrong thing."""

    def __init__(self, shipments: list[tuple[int, list[str]]]) -> None:
        self.client: Client  # set for each server
        self.to_scan = [(sid, barcode) for sid, barcodes in shipments for barcode in barcodes]
        self.scanned: list[str] = []

    def floor(self) -> None:
        status, raw = self.client.request("GET", FLOOR_PATH)
        assert status == 404 and raw.startswith(b"{"), (status, raw[:200])

    def look_up(self) -> None:
        barcode = self.scanned[len(self.scanned) // 2 - 1] if self.scanned else None
        barcode = barcode or self.to_scan[-1][1]
        status, raw = self.client.request("GET", f"/api/v1/samples/{barcode}")
        assert status == 200, (status, raw[:300])

    def scan(self) -> None:
        shipment_id, barcode = self.to_scan.pop()
        status, raw = self.client.request(
            "POST", f"/api/v1/shipments/{shipment_id}/receipt/scans", {"barcode": barcode}
        )
        assert status == 200 and json.loads(raw)["outcome"] == "expected", (status, raw[:300])
        self.scanned.append(barcode)

    def of(self, kind: str):
        return {"JSON 404": self.floor, "look-up": self.look_up, "receipt scan": self.scan}[kind]


def _measure(
    runs: dict[str, tuple[Work, int]], requests: int, sequenced: LogWatch
) -> dict[str, dict[str, dict[str, float]]]:
    """CPU per request (ms) of each kind, app and database, over ``requests`` of each, on
    each server of ``runs`` (label: its work and its worker's pid).

    The servers run side by side and take turns batch by batch, so a machine whose speed
    drifts (a shared virtual machine's does, by a tenth within minutes) slows them alike.

    A scan's custody event is put into the log by the worker's sequencer thread up to a second
    after the scan answers. Each batch's window stays open until the log holds every event of
    it (``sequenced``), so that work is counted with the scans that caused it, not with the
    JSON 404s or look-ups that happen to run meanwhile. Every server's sequencer takes its turn
    at the log, so the other server's worker may be the one that places a batch's events: each
    window counts every worker's CPU (the idle one adds only its background polling, alike for
    both)."""
    spent = {
        label: {kind: {"app": 0, "database": 0, "count": 0} for kind in KINDS} for label in runs
    }
    workers = [worker for _, worker in runs.values()]
    for _ in range(0, requests, BATCH):
        for kind in KINDS:
            for label, (work, _worker) in runs.items():
                call = work.of(kind)
                backends = [pid for pid in _database_pids() if pid != sequenced.pid]
                app_before = sum(_thread_cpu_ns(pid) for pid in workers)
                database_before = sum(_thread_cpu_ns(pid) for pid in backends)
                for _ in range(BATCH):
                    call()
                while not sequenced():
                    time.sleep(0.05)
                counted = spent[label][kind]
                counted["app"] += sum(_thread_cpu_ns(pid) for pid in workers) - app_before
                counted["database"] += (
                    sum(_thread_cpu_ns(pid) for pid in backends) - database_before
                )
                counted["count"] += BATCH
    return {
        label: {
            kind: {
                "app": s["app"] / s["count"] / 1e6,
                "database": s["database"] / s["count"] / 1e6,
            }
            for kind, s in kinds.items()
        }
        for label, kinds in spent.items()
    }


# --- where the time goes -----------------------------------------------------------------------

# Walking a sample's stack from its innermost frame outwards, the first rule that matches names
# its layer; "(SQL)" marks samples that were inside SQLAlchemy or the driver at the time.
LAYERS = (
    ("idempotency", ("biobank/api/idempotency.py",)),
    ("custody append", ("biobank/services/core/custody", "biobank/tlog/")),
    ("auth", ("biobank/security.py", "flask_login/", "biobank/services/core/accounts.py")),
    ("JSON in (parse, validate)", ("webargs/", "marshmallow/schema.py:load", "/arguments.py")),
    ("JSON out (dump, serialise)", ("flask_smorest/response.py", "marshmallow/", "json/")),
    ("service: the state change and its reads", ("biobank/services/",)),
    ("view", ("biobank/api/", "biobank/web/")),
    ("WSGI, Flask and request set-up", ("",)),
)
SQL_FRAMES = ("sqlalchemy/", "psycopg/", "psycopg_binary")


def _layer(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, markers in LAYERS[:-1]:
            if any(marker in frame for marker in markers):
                return name
    return LAYERS[-1][0]


def _split(collapsed: Path) -> dict[str, float]:
    """Share of samples per layer from py-spy's raw (collapsed) output."""
    layers: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or "handle_request" not in stack:  # idle threads and the sequencer
            continue
        count = int(count_text)
        frames = stack.split(";")
        layer = _layer(frames)
        if any(marker in frame for frame in frames for marker in SQL_FRAMES):
            layer += " (SQL)"
        layers[layer] += count
        total += count
    return {layer: count / total for layer, count in layers.most_common()} if total else {}


def _profile(work: Work, worker: int, kind: str, requests: int) -> dict[str, float] | None:
    spy = shutil.which("py-spy") or str(Path(os.sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        return None
    out = Path(tempfile.mkstemp(prefix="biobank-cost-", suffix=".txt")[1])
    recorder = subprocess.Popen(
        [
            *(spy, "record", "--pid", str(worker), "--rate", "1000", "--gil", "--format", "raw"),
            *("--output", str(out), "--nonblocking", "--full-filenames"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.0)  # py-spy attaches
        call = work.of(kind)
        for _ in range(requests):
            call()
    finally:
        recorder.send_signal(2)
        recorder.wait(timeout=30)
    try:
        return _split(out)
    finally:
        out.unlink(missing_ok=True)


# --- the run -----------------------------------------------------------------------------------


def _shipments(collector, tubes: int) -> list[tuple[int, list[str]]]:
    barcodes = finalized_tubes(collector, tubes)
    return [
        (
            dispatched(collector, barcodes[at : at + SHIPMENT_TUBES]),
            barcodes[at : at + SHIPMENT_TUBES],
        )
        for at in range(0, len(barcodes), SHIPMENT_TUBES)
    ]


@contextmanager
def _source_at(revision: str) -> Iterator[Path | None]:
    """The app's code as of ``revision`` (a temporary export), or None without git history."""
    folder = Path(tempfile.mkdtemp(prefix="biobank-cost-before-"))
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", revision],
            capture_output=True,
            check=False,
        )
        if archive.returncode != 0:
            yield None
            return
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class LogWatch:
    """Whether every custody event is in the log yet, asked over a connection of the bench's
    own; its backend (``pid``) is left out of the database's CPU."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url, poolclass=sa.pool.StaticPool)
        self.connection = self.engine.connect()
        self.pid = self.connection.scalar(sa.text("SELECT pg_backend_pid()"))

    def __call__(self) -> bool:
        waiting = self.connection.scalar(
            sa.text("SELECT EXISTS (SELECT 1 FROM events WHERE log_index IS NULL)")
        )
        self.connection.rollback()
        return not waiting

    def close(self) -> None:
        self.connection.close()
        self.engine.dispose()


def measure(requests: int = REQUESTS, profiled: int = 300) -> dict:
    """Each kind's cost on the code as it was before the work on request cost (BEFORE) and as it
    is now, two servers side by side on one database."""
    from biobank.extensions import db

    url = load_database_url(DATABASE)
    if url is None:
        return {}
    figures: dict = {"requests": requests}
    with bench_app(url) as (_app, cast), _source_at(BEFORE) as before:
        versions = [("now", ROOT)] + ([("before", before)] if before else [])
        per_version = -(-(requests + profiled + 2 * BATCH) // SHIPMENT_TUBES) * SHIPMENT_TUBES
        headers = {**bearer(cast.technician), "Accept": "application/json"}
        works = {label: Work(_shipments(cast.collector, per_version)) for label, _ in versions}
        db.session.commit()
        servers = {
            label: Server(url, workers=1, threads=1, source=source) for label, source in versions
        }
        try:
            runs = {}
            for label, server in servers.items():
                server.wait()
                works[label].client = Client(server.port, headers)
                runs[label] = (works[label], _worker_pid(server))
            sequenced = LogWatch(url)
            try:
                _measure(runs, BATCH, sequenced)  # warm: caches, pool, statement cache
                cost = _measure(runs, requests, sequenced)
            finally:
                sequenced.close()
            for label, (work, worker) in runs.items():
                # Idle while the other server was profiled: past gunicorn's keep-alive.
                work.client = Client(servers[label].port, headers)
                figures[label] = {
                    "cost": cost[label],
                    "splits": {kind: _profile(work, worker, kind, profiled) for kind in KINDS[1:]},
                }
        finally:
            for server in servers.values():
                server.stop()
    return figures


def rows_for(figures: dict) -> list[dict]:
    now, before = figures["now"]["cost"], figures.get("before", {}).get("cost")
    floor = now["JSON 404"]["app"]
    where = f"one gunicorn worker, one thread, PostgreSQL, {figures['requests']} of each"
    rows = [
        {
            "figure": f"app CPU per JSON 404, the floor ({where}; baseline: the code at "
            f"{BEFORE}, before this work, measured in the same run)",
            "value": round(floor, 3),
            "unit": "ms",
            "baseline": round(before["JSON 404"]["app"], 3) if before else None,
        }
    ]
    for kind, target in (("look-up", 2), ("receipt scan", 3)):
        app = now[kind]["app"]
        was = f"; before: {before[kind]['app'] / before['JSON 404']['app']:.1f}x" if before else ""
        rows.append(
            {
                "figure": f"app CPU per {kind}; ratio to the JSON 404 beside it{was}",
                "value": round(app, 3),
                "unit": "ms",
                "target": f"ratio <= {target}",
                "baseline": round(before[kind]["app"], 3) if before else None,
                "ratio": round(app / floor, 2),
            }
        )
    for kind in KINDS:
        rows.append(
            {
                "figure": f"PostgreSQL CPU per {kind} (its backend and shared processes)",
                "value": round(now[kind]["database"], 3),
                "unit": "ms",
                "baseline": round(before[kind]["database"], 3) if before else None,
            }
        )
    for label in ("before", "now"):
        for kind, split in figures.get(label, {}).get("splits", {}).items():
            if split:
                shares = "; ".join(f"{layer} {s:.0%}" for layer, s in split.items() if s >= 0.01)
                rows.append(
                    {
                        "figure": f"{label}: where a {kind}'s app CPU goes (py-spy samples "
                        "holding the GIL, by layer; (SQL): inside SQLAlchemy or the driver)",
                        "value": shares,
                    }
                )
    return rows


def run() -> list[dict]:
    figures = measure()
    if not figures:
        return [{"figure": "PostgreSQL is not reachable: not run", "value": "skipped"}]
    return rows_for(figures)


if __name__ == "__main__":
    import pprint

    pprint.pprint(rows_for(measure(int(os.environ.get("BIOBANK_COST_REQUESTS", "300")))))
