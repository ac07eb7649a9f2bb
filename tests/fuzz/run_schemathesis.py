"""Schemathesis against the running app, once per role: no 5xx, and every response matches
the OpenAPI document (schema, status code, content type).

The app runs under gunicorn on a fresh database with the demo data, exactly as deployed;
each role gets a real token from POST /api/v1/auth/tokens. Run by .ci/run; by hand:

    .venv/bin/python tests/fuzz/run_schemathesis.py [--max-examples N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ROLES = ("collector", "technician", "coordinator", "admin")
CHECKS = ",".join(
    [
        "not_a_server_error",
        "response_schema_conformance",
        "status_code_conformance",
        "content_type_conformance",
    ]
)

CLOSING_LINE = re.compile(r"^=+ .* in [0-9.]+s =+$")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the app did not answer at {url} within {seconds:.0f} s")


def token_for(base: str, username: str, password: str) -> str:
    request = urllib.request.Request(
        f"{base}/api/v1/auth/tokens",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["token"]


REVOKE_PATH = "/api/v1/auth/tokens/{token_id}"


def run_schemathesis(
    base: str, token: str, filters: list[str], max_examples: int, env: dict[str, str]
) -> int:
    result = subprocess.run(
        [
            str(BIN / "schemathesis"),
            "run",
            f"{base}/api/v1/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            *filters,
            "--checks",
            CHECKS,
            "--max-examples",
            str(max_examples),
            "--phases",
            "examples,coverage,fuzzing",
            # One worker: CPython 3.11's ast.parse is not thread-safe (hypothesis parses lambda
            # sources while describing strategies) and failed a run with "AST constructor
            # recursion depth mismatch" inside schemathesis, not in the app.
            "--workers",
            "1",
            "--seed",
            "20261124",
            "--generation-database",
            "none",
            "--suppress-health-check",
            "all",
            "--request-timeout",
            "30",
            "--no-color",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for line in result.stdout.splitlines():
        # Schemathesis closes like pytest ("=== 3 warnings in 60s ==="), which a CI reading
        # test runners' closing lines would take for a run of no tests.
        if not CLOSING_LINE.match(line):
            print(line)
    return result.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=15)
    parser.add_argument("--database-url", default=os.environ.get("BIOBANK_FUZZ_DATABASE_URL"))
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="biobank-fuzz-"))
    env = {
        **os.environ,
        "BIOBANK_ENV": "development",
        "BIOBANK_DATABASE_URL": options.database_url or f"sqlite:///{workdir / 'fuzz.sqlite3'}",
        "BIOBANK_LOGIN_LIMIT": "100000 per minute",
        "BIOBANK_ACCESS_LOG": "",  # gunicorn reads ./gunicorn.conf.py; its access log is noise here
    }
    flask = [str(BIN / "flask"), "--app", "wsgi", "biobank"]
    for command in ("init-db", "seed-demo"):
        subprocess.run([*flask, command], cwd=ROOT, env=env, check=True, capture_output=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "--workers",
            "2",
            "--threads",
            "4",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--limit-request-line",
            "8190",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
    )
    failed = []
    try:
        wait_for(f"{base}/api/v1/openapi.json")
        from biobank.services.admin.demo import DEMO_PASSWORD

        for role in ROLES:
            # Revoking a token by id can hit the fuzzing token itself, after which every other
            # operation would only ever answer 401: that one operation gets its own token and
            # goes last.
            for scope, filters in (
                ("every operation but token revocation", ["--exclude-path", REVOKE_PATH]),
                ("token revocation", ["--include-path", REVOKE_PATH]),
            ):
                token = token_for(base, role, DEMO_PASSWORD)
                print(f"\n== schemathesis as {role}: {scope}", flush=True)
                if run_schemathesis(base, token, filters, options.max_examples, env) != 0:
                    failed.append(f"{role} ({scope})")
    finally:
        server.terminate()
        server.wait(timeout=20)
    if failed:
        print(f"schemathesis found problems as: {', '.join(failed)}", file=sys.stderr)
        return 1
    print("schemathesis: no server errors, every response as documented, for every role")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
