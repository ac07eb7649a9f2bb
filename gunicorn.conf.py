"""gunicorn for production: ``gunicorn -c gunicorn.conf.py wsgi:app`` (the README's command).

Each setting can be changed without editing this file, through the environment variable named
beside it. The database pool is sized from the same numbers (``biobank/config.py``): one
connection per request thread, plus the custody sequencer's.
"""

import os

# Threads, not processes, carry most of the concurrency: a request spends much of its time
# waiting on PostgreSQL, and each process holds its own pool, caches and sequencer thread.
bind = os.environ.get("BIOBANK_BIND", "127.0.0.1:8000")
# One worker per core, up to 4: on 2 cores, 2 workers did 491 requests/s and 4 did 433, each
# process adding its own pool, sequencer and token-cache threads (bench/RESULTS.md, load).
# Beyond 4, set it: each worker holds its own pool of the database's connections.
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
workers = int(os.environ.get("BIOBANK_WORKERS", str(min(4, CORES))))
threads = int(os.environ.get("BIOBANK_THREADS", "4"))
worker_class = "gthread"

# A label run of thousands of tubes is the slowest answer; nothing legitimate takes a minute.
timeout = int(os.environ.get("BIOBANK_REQUEST_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# Scanner URLs are short; a longer request line is an attack or a mistake.
limit_request_line = 8190
# Recycle workers now and then so a slow leak in a library cannot grow for months.
max_requests = 20000
max_requests_jitter = 2000

# Access log on standard output: method, path, status, bytes, seconds. The Authorization header,
# cookies and request bodies are never logged (passwords and tokens travel only there).
# An empty BIOBANK_ACCESS_LOG turns it off (the fuzz run and the load bench do).
accesslog = os.environ.get("BIOBANK_ACCESS_LOG", "-") or None
access_log_format = '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(B)s %(L)ss'
errorlog = "-"
loglevel = "info"

# Not preloaded: the custody sequencer is a thread each worker starts for itself after the fork.
preload_app = False

# The app reads these to size its connection pool to this server (see biobank/config.py).
raw_env = [f"BIOBANK_THREADS={threads}"]
