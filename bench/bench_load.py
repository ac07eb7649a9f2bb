"""Under load: 16 receiving scanners against gunicorn on PostgreSQL, no scan lost or doubled.

The app runs under gunicorn (``WORKERS`` workers × ``THREADS`` threads) on a fresh PostgreSQL
database (``biobank_load`` beside the benchmark database), exactly as deployed. ``CLIENTS``
threads, each a scanner with its own technician token and one keep-alive connection, stay busy
for ``BIOBANK_LOAD_SECONDS`` (default 60): three receipt scans (``POST …/receipt/scans`` with a
fresh ``Idempotency-Key``) to one look-up (``GET /api/v1/samples/<barcode>``). A scanner
receives one dispatched shipment (``SHIPMENT_TUBES`` tubes) at a time, then takes the next from
a shared pile, so no two scanners scan one tube and a fast scanner never waits for work.
Everything is made through the app's own services.

A short calibration run first measures the scan rate (and the CPU each request costs, which
bounds it when other work slows the calibration), so the pile holds more tubes than the timed
run can scan. Afterwards the database must agree with the answers: as many ``received`` events
as ``expected`` answers (calibration included), no tube received twice, and the chain of
custody intact.

An error is any 5xx, any connection error, any unexpected 4xx, or a scan answered with
anything but ``expected``. A scan whose connection broke is retried with the same
``Idempotency-Key`` (what a scanner does), so its answer still counts once.

CPU per request (gunicorn's processes, and PostgreSQL's for this database, from /proc) tells
what the app costs whatever else the machine is doing; throughput alone depends on it.

    .venv/bin/python -m bench load            # or: BIOBANK_LOAD_SECONDS=10 … for a quick run

Also BIOBANK_LOAD_WORKERS, BIOBANK_LOAD_THREADS and BIOBANK_LOAD_CLIENTS (default 4, 4, 16).

Then the scaling rows: one server of 1, 2 and 4 workers, and two servers of 2 against the one
database, each under the same load for ``BIOBANK_LOAD_SCALING_SECONDS`` (default 20) in
``BIOBANK_LOAD_SCALING_ROUNDS`` turns (default 4). Their servers all run at once and the shapes
take turns, so the machine's drift falls on each alike and their CPU per request compares.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import queue
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from bench.harness import (
    bearer,
    bench_app,
    created_if_missing,
    dispatched,
    finalized_tubes,
    ms,
    percentile,
    postgres_url,
)

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DATABASE = "biobank_load"
CLIENTS = int(os.environ.get("BIOBANK_LOAD_CLIENTS", "16"))
WORKERS = int(os.environ.get("BIOBANK_LOAD_WORKERS", "4"))
THREADS = int(os.environ.get("BIOBANK_LOAD_THREADS", "4"))
SCANS_PER_LOOKUP = 3
WARM_UP_SECONDS = 3
CALIBRATION_SECONDS = 5
SHIPMENT_TUBES = 100  # a box of tubes
CALIBRATION_TUBES = 3 * CLIENTS * SHIPMENT_TUBES
# Tubes made = calibrated scans/s × seconds × MARGIN, plus a shipment per scanner (each may be
# part-way through one when time is up).
MARGIN = 1.25
REQUEST_TIMEOUT = 30
SCAN_RETRIES = 3


def seconds() -> float:
    return float(os.environ.get("BIOBANK_LOAD_SECONDS", "60"))


# --- the database and the server -----------------------------------------------------------


def load_database_url(database: str = DATABASE) -> str | None:
    """``database`` (``biobank_load``) on the benchmark PostgreSQL server, created if missing."""
    base = postgres_url()
    if base is None:
        return None
    url = sa.make_url(base).set(database=database).render_as_string(hide_password=False)
    return created_if_missing(url)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (all its threads) so far; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _processes() -> list[tuple[int, int, str]]:
    """(pid, parent pid, command name) of every process, from /proc (Linux)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                head, _, rest = (entry / "stat").read_text().rpartition(")")
                found.append((int(entry.name), int(rest.split()[1]), head.split("(", 1)[1]))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _machine_times() -> tuple[float, float]:
    """(all, idle) CPU time of the machine so far, in clock ticks."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return float(sum(values)), float(values[3] + values[4])


def _ours(pid: int) -> bool:
    """A PostgreSQL process working for the load database: its backends, and the server's
    shared processes (WAL writer, checkpointer …), but not other databases' backends."""
    try:
        title = (Path(f"/proc/{pid}") / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    words = title.split()
    is_backend = "[local]" in title or any("(" in word and word.endswith(")") for word in words)
    return not is_backend or DATABASE in words


class CpuMeter:
    """CPU used during a run by the app (gunicorn master and workers), by PostgreSQL (the load
    database's backends and the server's shared processes), and how busy the machine was."""

    def __init__(self, *server_pids: int) -> None:
        self.server_pids = set(server_pids)

    def _groups(self) -> dict[str, dict[int, float]]:
        processes = _processes()
        app = self.server_pids | {pid for pid, ppid, _ in processes if ppid in self.server_pids}
        database = {pid for pid, _, name in processes if name == "postgres" and _ours(pid)}
        return {
            "app": {pid: _cpu_seconds(pid) for pid in app},
            "postgres": {pid: _cpu_seconds(pid) for pid in database},
        }

    def __enter__(self) -> CpuMeter:
        try:
            self.before, self.machine_before = self._groups(), _machine_times()
        except OSError:
            self.before = None
        self.start = time.perf_counter()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.used: dict[str, float] = {"wall": time.perf_counter() - self.start}
        if self.before is None:
            return
        try:
            after, (all_after, idle_after) = self._groups(), _machine_times()
        except OSError:
            return
        for group, now in after.items():
            # A process that started during the run counts from zero; one that ended is lost.
            self.used[group] = sum(
                cpu - self.before[group].get(pid, 0.0) for pid, cpu in now.items()
            )
        all_before, idle_before = self.machine_before
        self.used["busy"] = 1 - (idle_after - idle_before) / max(1.0, all_after - all_before)


class Server:
    """gunicorn on ``url``; ``stop()`` ends it and its workers (also after a failure)."""

    def __init__(
        self, url: str, workers: int = WORKERS, threads: int = THREADS, source: Path = ROOT
    ) -> None:
        self.port = free_port()
        handle, name = tempfile.mkstemp(prefix="biobank-load-gunicorn-", suffix=".log")
        self.log = Path(name)
        env = {
            **os.environ,
            "BIOBANK_ENV": "development",
            "BIOBANK_DATABASE_URL": url,
            "BIOBANK_LOGIN_LIMIT": "100000 per minute",
            # gunicorn reads ./gunicorn.conf.py: its pool sizing follows these threads, and
            # an access log line per request would cost the run it measures.
            "BIOBANK_THREADS": str(threads),
            "BIOBANK_ACCESS_LOG": "",
        }
        self.process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
                "wsgi:app",
            ],
            cwd=source,  # gunicorn imports the app from here
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        os.close(handle)  # gunicorn has its own copy

    def wait(self, timeout: float = 60) -> None:
        url = f"http://127.0.0.1:{self.port}/api/v1/openapi.json"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.process.returncode}):\n{self.tail()}")
            try:
                with urllib.request.urlopen(url, timeout=5):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: the master stops its workers gracefully
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.unlink(missing_ok=True)


# --- the scanners ----------------------------------------------------------------------------


@dataclass
class Tally:
    requests: int = 0
    scans: int = 0
    lookups: int = 0
    expected: int = 0  # scans answered 200 with outcome "expected"
    errors: int = 0
    ran_dry: bool = False
    latencies: list[float] = field(default_factory=list)
    scan_latencies: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    elapsed: float = 0.0  # from the start line to this scanner's last answer

    def error(self, problem: str) -> None:
        self.errors += 1
        if len(self.problems) < 5:
            self.problems.append(problem)

    def add(self, other: Tally) -> None:
        self.requests += other.requests
        self.scans += other.scans
        self.lookups += other.lookups
        self.expected += other.expected
        self.errors += other.errors
        self.latencies += other.latencies
        self.scan_latencies += other.scan_latencies
        self.problems += other.problems[: max(0, 10 - len(self.problems))]


class Scanner:
    """One receiving bench: takes the next shipment from the pile, scans its tubes in order, and
    looks up a tube it received now and then; then the next shipment, until time is up."""

    def __init__(self, port: int, headers: dict[str, str], pile: queue.SimpleQueue, seed: int):
        self.port = port
        self.headers = {**headers, "Accept": "application/json"}
        self.pile = pile
        self.path = ""
        self.barcodes: list[str] = []
        self.next = 0
        self.scanned: list[str] = []
        self.random = random.Random(seed)
        self.connection: http.client.HTTPConnection | None = None

    def _has_tube(self) -> bool:
        if self.next < len(self.barcodes):
            return True
        try:
            shipment_id, self.barcodes = self.pile.get_nowait()
        except queue.Empty:
            return False
        self.path = f"/api/v1/shipments/{shipment_id}/receipt/scans"
        self.next = 0
        return True

    def _request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]):
        if self.connection is None:
            self.connection = http.client.HTTPConnection(
                "127.0.0.1", self.port, timeout=REQUEST_TIMEOUT
            )
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = None
            raise

    def warm_up(self, count: int = 3) -> None:
        for _ in range(count):
            self._request("GET", "/api/v1/auth/me", None, self.headers)

    def _scan(self, tally: Tally) -> None:
        barcode = self.barcodes[self.next]
        self.next += 1
        body = json.dumps({"barcode": barcode}).encode()
        headers = {
            **self.headers,
            "Content-Type": "application/json",
            "Idempotency-Key": str(uuid.uuid4()),
        }
        tally.requests += 1
        tally.scans += 1
        start = time.perf_counter()
        for attempt in range(SCAN_RETRIES + 1):
            try:
                status, raw = self._request("POST", self.path, body, headers)
            except (OSError, http.client.HTTPException) as exc:
                tally.error(f"scan {barcode}: {type(exc).__name__}: {exc}")
                if attempt == SCAN_RETRIES:
                    return
                time.sleep(0.5)  # then the same Idempotency-Key again
                continue
            if status == 409 and attempt < SCAN_RETRIES and b"Idempotency-Key" in raw:
                time.sleep(0.5)  # the first attempt is still running: ask for its answer again
                continue
            break
        elapsed = time.perf_counter() - start
        tally.latencies.append(elapsed)
        tally.scan_latencies.append(elapsed)
        if status != 200:
            tally.error(f"scan {barcode}: {status} {raw[:300]!r}")
            return
        outcome = json.loads(raw).get("outcome")
        if outcome != "expected":
            tally.error(f"scan {barcode}: outcome {outcome!r}, expected 'expected'")
            return
        tally.expected += 1
        self.scanned.append(barcode)

    def _look_up(self, tally: Tally) -> None:
        barcode = self.random.choice(self.scanned)
        tally.requests += 1
        tally.lookups += 1
        start = time.perf_counter()
        try:
            status, raw = self._request("GET", f"/api/v1/samples/{barcode}", None, self.headers)
        except (OSError, http.client.HTTPException) as exc:
            tally.error(f"look-up {barcode}: {type(exc).__name__}: {exc}")
            return
        tally.latencies.append(time.perf_counter() - start)
        if status != 200:
            tally.error(f"look-up {barcode}: {status} {raw[:300]!r}")

    def run(self, start_line: threading.Barrier, clock: dict[str, float], tally: Tally) -> None:
        try:
            self.warm_up()
        except (OSError, http.client.HTTPException) as exc:
            tally.error(f"warm-up: {type(exc).__name__}: {exc}")
        start_line.wait()
        deadline = clock["deadline"]
        turn = 0
        while time.perf_counter() < deadline:
            turn += 1
            try:
                if turn % (SCANS_PER_LOOKUP + 1) == 0 and self.scanned:
                    self._look_up(tally)
                elif self._has_tube():
                    self._scan(tally)
                else:
                    tally.ran_dry = True
                    break
            except ValueError as exc:  # an answer that is not the JSON it should be
                tally.error(f"unreadable answer: {exc}")
        tally.elapsed = time.perf_counter() - clock["start"]
        if self.connection is not None:
            self.connection.close()


def drive(scanners: list[Scanner], duration: float) -> tuple[Tally, float, list[Tally]]:
    """Every scanner at once for ``duration`` seconds: the merged tally, the wall time, each."""
    clock: dict[str, float] = {}

    def go() -> None:
        clock["start"] = time.perf_counter()
        clock["deadline"] = clock["start"] + duration

    start_line = threading.Barrier(len(scanners), action=go)
    tallies = [Tally() for _ in scanners]
    threads = [
        threading.Thread(target=s.run, args=(start_line, clock, t), daemon=True)
        for s, t in zip(scanners, tallies, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = Tally()
    for tally in tallies:
        total.add(tally)
    return total, max(t.elapsed for t in tallies), tallies


# --- the run -----------------------------------------------------------------------------------


def _pile(collector, tubes: int) -> queue.SimpleQueue:
    """Dispatched shipments of ``SHIPMENT_TUBES`` finalized tubes, enough for ``tubes``."""
    pile: queue.SimpleQueue = queue.SimpleQueue()
    barcodes = finalized_tubes(collector, math.ceil(tubes / SHIPMENT_TUBES) * SHIPMENT_TUBES)
    for start in range(0, len(barcodes), SHIPMENT_TUBES):
        chunk = barcodes[start : start + SHIPMENT_TUBES]
        pile.put((dispatched(collector, chunk), chunk))
    return pile


def _check_database(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            received = connection.scalar(
                sa.text("SELECT count(*) FROM events WHERE type = 'received'")
            )
            doubled = connection.scalar(
                sa.text(
                    "SELECT count(*) FROM (SELECT sample_id FROM events WHERE type = 'received' "
                    "GROUP BY sample_id HAVING count(*) > 1) AS doubled"
                )
            )
            items = connection.scalar(
                sa.text("SELECT count(*) FROM shipment_items WHERE outcome = 'received'")
            )
    finally:
        engine.dispose()
    return {"received": received, "doubled": doubled, "items": items}


def _serve(url: str, shape: tuple[tuple[int, int], ...]) -> list[Server]:
    """One gunicorn per (workers, threads) in ``shape``, each on its own port, all answering."""
    servers = [Server(url, workers, threads) for workers, threads in shape]
    try:
        for server in servers:
            server.wait()
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


def _scanners(servers: list[Server], headers: list[dict[str, str]], pile) -> list[Scanner]:
    """The scanners, spread over the servers in turn (a load balancer's round robin)."""
    return [Scanner(servers[n % len(servers)].port, h, pile, n) for n, h in enumerate(headers)]


def _run_shape(url: str, cast, headers, shape, duration: float, rate: float) -> dict:
    """``duration`` seconds under load on the servers of ``shape``, on a fresh pile of tubes
    sized from ``rate`` (scans/s)."""
    from biobank.extensions import db
    from biobank.sequencer import sequence_pending

    tubes = math.ceil(rate * (duration + WARM_UP_SECONDS) * MARGIN) + CLIENTS * SHIPMENT_TUBES
    began = time.perf_counter()
    pile = _pile(cast.collector, tubes)
    db.session.commit()
    # The setup's own events go into the log now, so the delay measured is the run's.
    sequence_pending(wait=True)
    figures: dict = {
        "setup": time.perf_counter() - began,
        "tubes": pile.qsize() * SHIPMENT_TUBES,
        "shipments": pile.qsize(),
    }
    servers = _serve(url, shape)
    try:
        scanners = _scanners(servers, headers, pile)
        print(f"  made in {figures['setup']:.0f} s; {duration:.0f} s under load …", flush=True)
        warm, _, _ = drive(scanners, WARM_UP_SECONDS)  # new processes: first requests cost more
        figures["warm"] = warm
        started = datetime.now(UTC)
        with CpuMeter(*(server.process.pid for server in servers)) as cpu:
            total, wall, each = drive(scanners, duration)
        figures["windows"] = [(started, datetime.now(UTC))]
        figures["cpu"] = cpu.used if "busy" in cpu.used else {}
        # The servers' own sequencers place the run's last events (they run every second),
        # so every delay measured is the live sequencer's, not the next setup's.
        _wait_until_sequenced(url)
    finally:
        for server in servers:
            server.stop()
    figures.update(total=total, wall=wall, ran_dry=sum(t.ran_dry for t in each))
    return figures


def _run_shapes_in_turn(url: str, cast, headers, shapes, duration: float, rate: float) -> list:
    """``duration`` seconds under load on each shape, in ``scaling_rounds()`` turns: every
    shape's servers run side by side, and the shapes take turns at the scanners, in a rotated
    order each round, so a change in the machine's speed during the run falls on every shape
    alike (one after the other, this VM's drift was as large as the differences measured)."""
    from biobank.extensions import db
    from biobank.sequencer import sequence_pending

    rounds = scaling_rounds()
    tubes = math.ceil(rate * len(shapes) * (duration + WARM_UP_SECONDS) * MARGIN)
    tubes += len(shapes) * CLIENTS * SHIPMENT_TUBES
    began = time.perf_counter()
    pile = _pile(cast.collector, tubes)
    db.session.commit()
    sequence_pending(wait=True)  # the setup's own events, so the delays measured are the run's
    setup = time.perf_counter() - began
    figures = [
        {"total": Tally(), "wall": 0.0, "cpu": {}, "windows": [], "ran_dry": 0} for _ in shapes
    ]
    servers: list[list[Server]] = []
    try:
        for shape in shapes:
            servers.append(_serve(url, shape))
        # Scanners keep their shipment between turns: the pile is shared, and a scanner of
        # one shape never scans a tube another holds.
        scanners = [_scanners(these, headers, pile) for these in servers]
        print(
            f"  made in {setup:.0f} s; {len(shapes)} shapes, {rounds} turns of "
            f"{duration / rounds:.0f} s each …",
            flush=True,
        )
        for here, theirs in zip(figures, scanners, strict=True):
            here["warm"], _, _ = drive(theirs, WARM_UP_SECONDS)  # new processes cost more
        for turn in range(rounds):
            order = list(range(len(shapes)))
            order = order[turn % len(order) :] + order[: turn % len(order)]
            for number in order:
                here = figures[number]
                started = datetime.now(UTC)
                pids = [server.process.pid for server in servers[number]]
                with CpuMeter(*pids) as cpu:
                    total, wall, each = drive(scanners[number], duration / rounds)
                here["windows"].append((started, datetime.now(UTC)))
                here["total"].add(total)
                here["wall"] += wall
                here["ran_dry"] += sum(t.ran_dry for t in each)
                if "busy" in cpu.used:
                    for part in ("app", "postgres"):
                        here["cpu"][part] = here["cpu"].get(part, 0.0) + cpu.used[part]
        _wait_until_sequenced(url)
    finally:
        for these in servers:
            for server in these:
                server.stop()
    return figures


def _wait_until_sequenced(url: str, timeout: float = 30) -> None:
    engine = sa.create_engine(url)
    deadline = time.monotonic() + timeout
    try:
        with engine.connect() as connection:
            while time.monotonic() < deadline:
                waiting = connection.scalar(
                    sa.text("SELECT count(*) FROM events WHERE log_index IS NULL")
                )
                connection.rollback()
                if not waiting:
                    return
                time.sleep(0.2)
    finally:
        engine.dispose()


def _sequencer_delays(url: str, windows: list[tuple[datetime, datetime]]) -> dict[str, float | int]:
    """For the events recorded in the ``windows`` (start, end): seconds from the event's
    record to the first tree head that holds it (p50, p99, max), and how many no head held
    yet."""
    within = " OR ".join(
        f"e.recorded_at BETWEEN :start{n} AND :end{n}" for n in range(len(windows))
    )
    bounds = {f"start{n}": start for n, (start, _) in enumerate(windows)}
    bounds |= {f"end{n}": end for n, (_, end) in enumerate(windows)}
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                sa.text(
                    "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY delay), "
                    "percentile_cont(0.99) WITHIN GROUP (ORDER BY delay), max(delay), "
                    "count(delay), count(*) - count(delay) FROM ("
                    " SELECT extract(epoch FROM head.sequenced_at - e.recorded_at) AS delay"
                    " FROM events e LEFT JOIN LATERAL ("
                    "  SELECT h.sequenced_at FROM custody_tree_heads h"
                    "  WHERE h.tree_size > e.log_index ORDER BY h.tree_size LIMIT 1"
                    " ) head ON true"
                    f" WHERE {within}) delays"
                ),
                bounds,
            ).one()
    finally:
        engine.dispose()
    p50, p99, worst, sequenced, waiting = row
    return {
        "p50": float(p50 or 0),
        "p99": float(p99 or 0),
        "max": float(worst or 0),
        "sequenced": sequenced,
        "waiting": waiting,
    }


def _measure(url: str, duration: float, shapes: list[tuple[tuple[int, int], ...]]) -> dict:
    """A calibration on the first shape, then each shape under load in turn, then the checks
    of everything they wrote."""
    from biobank.extensions import db
    from biobank.sequencer import sequence_pending
    from biobank.services.core.custody_log import verify_chain

    with bench_app(url) as (app, cast):
        began = time.perf_counter()
        calibration = _pile(cast.collector, CALIBRATION_TUBES)
        headers = [bearer(cast.technician) for _ in range(CLIENTS)]
        db.session.commit()  # no transaction left open beside the server
        figures: dict = {"calibration_setup": time.perf_counter() - began}
        servers = _serve(url, shapes[0])
        try:
            print(
                f"  calibrating: {CLIENTS} scanners, {WARM_UP_SECONDS} s to warm up, "
                f"{CALIBRATION_SECONDS} s measured …",
                flush=True,
            )
            scanners = _scanners(servers, headers, calibration)
            warm, _, _ = drive(scanners, WARM_UP_SECONDS)
            with CpuMeter(*(server.process.pid for server in servers)) as cpu:
                measured, measured_wall, measured_each = drive(scanners, CALIBRATION_SECONDS)
            warm.add(measured)
        finally:
            for server in servers:
                server.stop()
        # Each scanner's own pace while it had tubes (one may run out of calibration tubes).
        rate = sum(t.scans / t.elapsed for t in measured_each if t.elapsed > 0)
        # Other work on the machine may slow the calibration more than the timed run: what
        # the app could do with every core bounds the scan rate better.
        if "busy" in cpu.used and measured.requests:
            per_request = (cpu.used["app"] + cpu.used["postgres"]) / measured.requests
            share = measured.scans / measured.requests
            rate = max(rate, (os.cpu_count() or 2) / per_request * share)
        print(
            f"  calibration: {measured.requests / measured_wall:.0f} requests/s; up to "
            f"{rate:.0f} scans/s",
            flush=True,
        )
        print(f"  {_shape_name(shapes[0])} …", flush=True)
        runs = [_run_shape(url, cast, headers, shapes[0], duration, rate)]
        if shapes[1:]:
            print(f"  {len(shapes) - 1} shapes taking turns …", flush=True)
            runs += _run_shapes_in_turn(url, cast, headers, shapes[1:], scaling_seconds(), rate)
        for run in runs:
            if run["total"].problems:
                print("  first problems:", *run["total"].problems[:10], sep="\n    ")
        if warm.problems:
            print("  calibration problems:", *warm.problems[:10], sep="\n    ")
        for run in runs:
            run["delays"] = _sequencer_delays(url, run["windows"])
        with app.app_context():
            sequence_pending(wait=True)  # what the servers' sequencers had not reached
        checks = _check_database(url)
        with app.app_context():
            chain = verify_chain()
        answered = warm.expected + sum(run["total"].expected + run["warm"].expected for run in runs)
        for run in runs:
            warm.errors += run["warm"].errors
            warm.requests += run["warm"].requests
        figures.update(
            runs=runs,
            answered=answered,
            warm_errors=warm.errors,
            warm_requests=warm.requests,
            chain_intact=chain.intact,
            chain_checked=chain.checked,
            chain_break=chain.first_break,
            **checks,
        )
        return figures


def scaling_seconds() -> float:
    return float(os.environ.get("BIOBANK_LOAD_SCALING_SECONDS", "20"))


def scaling_rounds() -> int:
    return max(1, int(os.environ.get("BIOBANK_LOAD_SCALING_ROUNDS", "4")))


# The deployment measured in full, then the same load on other shapes: one server of 1, 2 or 4
# workers, and two servers on two ports against the one database (N app servers behind a load
# balancer), so the cost per request shows whether it grows with processes or servers.
MAIN_SHAPE = ((WORKERS, THREADS),)
SCALING_SHAPES = (((1, THREADS),), ((2, THREADS),), ((4, THREADS),), ((2, THREADS), (2, THREADS)))


def _shape_name(shape: tuple[tuple[int, int], ...]) -> str:
    servers = " + ".join(f"{w} worker{'s' if w > 1 else ''} × {t} threads" for w, t in shape)
    return f"{len(shape)} gunicorn servers ({servers})" if len(shape) > 1 else f"gunicorn {servers}"


def _cpu_per_request(run: dict) -> tuple[float, float] | None:
    cpu, total = run["cpu"], run["total"]
    if not cpu or not total.requests:
        return None
    return cpu["app"] / total.requests, cpu["postgres"] / total.requests


def _main_rows(run: dict, f: dict, duration: float) -> list[dict]:
    total: Tally = run["total"]
    where = (
        f"{_shape_name(MAIN_SHAPE)}, {CLIENTS} clients, {os.cpu_count()} cores, {duration:.0f} s"
    )
    latencies = total.latencies or [0.0]
    delays = run["delays"]
    rows = [
        {
            "figure": f"PostgreSQL under load ({where}): requests/s "
            f"({SCANS_PER_LOOKUP} receipt scans : 1 look-up)",
            "value": round(total.requests / run["wall"], 1),
            "unit": "/s",
            "target": ">= 350/s",
        },
        {
            "figure": "under load: receipt scans/s",
            "value": round(total.scans / run["wall"], 1),
            "unit": "/s",
        },
        *(
            {
                "figure": f"under load: latency p{round(q * 100)} (all requests)",
                "value": ms(percentile(latencies, q)),
                "unit": "ms",
            }
            for q in (0.5, 0.95, 0.99)
        ),
        {
            "figure": "under load: receipt scan latency p95",
            "value": ms(percentile(total.scan_latencies or [0.0], 0.95)),
            "unit": "ms",
        },
        {
            "figure": f"under load: custody sequencer delay, event recorded → in a tree head, "
            f"p99 (p50 {delays['p50']:.2f} s, max {delays['max']:.2f} s, "
            f"{delays['sequenced']} events; {delays['waiting']} not yet sequenced when the "
            "servers stopped)",
            "value": round(delays["p99"], 2),
            "unit": "s",
            "target": "<= a few s",
        },
        {
            "figure": "under load: scanners that ran out of tubes",
            "value": run["ran_dry"],
            "unit": "",
            "target": "0",
        },
        {
            "figure": f"under load: setup of {run['tubes']} finalized tubes in "
            f"{run['shipments']} dispatched shipments, through the services (after a "
            f"{WARM_UP_SECONDS + CALIBRATION_SECONDS} s calibration on {CALIBRATION_TUBES} tubes, "
            f"{f['calibration_setup']:.0f} s to make)",
            "value": round(run["setup"], 1),
            "unit": "s",
        },
    ]
    cost = _cpu_per_request(run)
    if cost:
        cores = os.cpu_count() or 2
        cpu = run["cpu"]
        rows += [
            {
                "figure": "under load: CPU per request: app (gunicorn workers) + PostgreSQL; "
                f"together they used {(cpu['app'] + cpu['postgres']) / cpu['wall']:.2f} of "
                f"{cores} cores while the machine was {cpu['busy']:.0%} busy (the load "
                "generator and other work included)",
                "value": f"{ms(cost[0])} + {ms(cost[1])}",
                "unit": "ms",
                "target": f"<= {ms(cores / 350)} together for 350/s",
            },
            {
                "figure": f"under load: requests/s if the app and PostgreSQL had all {cores} "
                "cores (cores ÷ their CPU per request; lock waits not counted)",
                "value": round(cores / sum(cost), 1),
                "unit": "/s",
                "target": ">= 350/s",
            },
        ]
    return rows


def _scaling_rows(runs: list[dict]) -> list[dict]:
    rows = []
    for shape, run in zip(SCALING_SHAPES, runs, strict=True):
        total: Tally = run["total"]
        cost = _cpu_per_request(run)
        cpu_text = (
            f"; CPU per request app {ms(cost[0])} + PostgreSQL {ms(cost[1])} ms" if cost else ""
        )
        rows.append(
            {
                "figure": f"scaling: {_shape_name(shape)}, {CLIENTS} clients, "
                f"{scaling_seconds():.0f} s in {scaling_rounds()} turns taken with the other "
                "shapes: requests/s (p95 "
                f"{ms(percentile(total.latencies or [0.0], 0.95))} ms{cpu_text}; sequencer "
                f"delay p99 {run['delays']['p99']:.2f} s; errors {total.errors}; scanners "
                f"out of tubes {run['ran_dry']})",
                "value": round(total.requests / run["wall"], 1),
                "unit": "/s",
            }
        )
    return rows


def run() -> list[dict]:
    duration = seconds()
    url = load_database_url()
    if url is None:
        return [
            {
                "figure": "PostgreSQL is not reachable: the load test did not run",
                "value": "skipped",
                "unit": "",
                "target": "",
            }
        ]
    f = _measure(url, duration, [MAIN_SHAPE, *SCALING_SHAPES])
    main, scaling = f["runs"][0], f["runs"][1:]
    requests = sum(run["total"].requests for run in f["runs"])
    errors = sum(run["total"].errors for run in f["runs"])
    rows = _main_rows(main, f, duration) + _scaling_rows(scaling)
    rows += [
        {
            "figure": f"under load, every run: errors in {requests} requests and "
            f"{f['warm_requests']} calibration requests (5xx, connection error, unexpected 4xx "
            "or scan outcome)",
            "value": errors + f["warm_errors"],
            "unit": "",
            "target": "0",
        },
        {
            "figure": "under load, every run: scans answered `expected` = `received` events in "
            "the database (calibration included)",
            "value": f"{f['answered']} = {f['received']}",
            "unit": "",
            "target": "equal",
        },
        {
            "figure": "under load, every run: tubes with more than one `received` event",
            "value": f["doubled"],
            "unit": "",
            "target": "0",
        },
        {
            "figure": f"under load, every run: custody log intact ({f['chain_checked']} events "
            "checked)",
            "value": "yes" if f["chain_intact"] else f"no: {f['chain_break']}",
            "unit": "",
            "target": "yes",
        },
    ]
    if f["answered"] != f["received"] or f["items"] != f["received"]:
        rows.append(
            {
                "figure": "under load: shipment items received (a cross-check)",
                "value": f["items"],
                "unit": "",
                "target": f"{f['received']}",
            }
        )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
