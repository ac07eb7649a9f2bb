"""``Idempotency-Key`` for API writes: a client that retries after a timeout gets the first
answer again, and the write happens once.

The key is claimed before the route runs (one row per user and key, inserted by one
``INSERT … ON CONFLICT DO NOTHING``); on PostgreSQL the claim commits with the route's own
write (one commit, not two), on SQLite on its own. A concurrent retry waits for the claim's
commit and then sees it; the route's answer is stored after it, by the row's id. A concurrent
retry while the first request is still running gets a 409; a retry after a 5xx or a 429 runs
again (nothing was written: the route's transaction rolled back); any other answer, a refusal
included, is given again for 24 hours.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, g, jsonify, request
from marshmallow import Schema
from sqlalchemy.dialects import postgresql, sqlite

from biobank.db import rows_affected, table_of, utcnow
from biobank.errors import Conflict, ValidationFailed
from biobank.extensions import db
from biobank.models import IdempotencyKey
from biobank.unit_of_work import unit_of_work

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A claimed key with no answer this old belongs to a request that died: let a retry run.
ABANDONED_AFTER = timedelta(minutes=2)
KEPT_FOR = timedelta(hours=24)
# Headers a document's answer needs again on a retry: its name and what it holds.
DOCUMENT_HEADERS = ("Content-Disposition", "X-Label-Count")
IN_FLIGHT = (
    "A request with this Idempotency-Key is being handled right now; retry in a few seconds to "
    "get its answer."
)


def fingerprint() -> str:
    """What the request asks for. For uploads, the files' contents, not the multipart
    boundary (which a client picks afresh on every attempt)."""
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.path}?{request.query_string.decode()}".encode())
    if request.mimetype == "multipart/form-data":
        for name, value in sorted(request.form.items(multi=True)):
            digest.update(f"{name}={value}".encode())
        for name, upload in sorted(request.files.items(multi=True)):
            content = upload.stream.read()
            upload.stream.seek(0)
            digest.update(name.encode() + hashlib.sha256(content).digest())
    else:
        digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip()
    return media == "application/json" or media.endswith("+json")


def _kept_body(response: Response) -> str:
    """What is kept of an answer: a JSON body as it is; a document (a PDF, a ZPL file) as
    base64 with the headers that name it, so a retry gets the same file, byte for byte."""
    if _is_json(response.content_type):
        return response.get_data(as_text=True)
    # A file sent straight from its buffer: read into the response, so it is kept and still sent.
    response.direct_passthrough = False
    return json.dumps(
        {
            "base64": base64.b64encode(response.get_data()).decode("ascii"),
            "headers": {
                name: value
                for name in DOCUMENT_HEADERS
                if (value := response.headers.get(name)) is not None
            },
        }
    )


def _document(body: str | None) -> dict | None:
    """A document kept by ``_kept_body``; None for a text answer kept before documents were."""
    try:
        kept = json.loads(body or "")
    except ValueError:
        return None
    return kept if isinstance(kept, dict) and "base64" in kept else None


def _replay(record: IdempotencyKey) -> Response:
    if _is_json(record.content_type):
        response = Response(
            record.response_body or "", status=record.status, content_type=record.content_type
        )
    else:
        kept = _document(record.response_body)
        response = Response(
            base64.b64decode(kept["base64"]) if kept else record.response_body or "",
            status=record.status,
            content_type=record.content_type,
            headers=kept["headers"] if kept else {},
        )
    response.headers[REPLAYED_HEADER] = "true"
    return response


_TABLE = table_of(IdempotencyKey)


def _claim_for(insert) -> sa.Insert:
    return (
        insert(_TABLE)
        .values(
            user_id=sa.bindparam("user_id"),
            key=sa.bindparam("key"),
            fingerprint=sa.bindparam("fingerprint"),
            created_at=sa.bindparam("created_at"),
        )
        .on_conflict_do_nothing(index_elements=[_TABLE.c.user_id, _TABLE.c.key])
        .returning(_TABLE.c.id)
    )


# ``INSERT … ON CONFLICT`` exists on both databases the app runs on, spelled per dialect. Built
# once: every API write runs it.
_CLAIM = {"postgresql": _claim_for(postgresql.insert), "sqlite": _claim_for(sqlite.insert)}
_ANSWERED_CLAIM = (
    postgresql.insert(_TABLE)
    .values(
        user_id=sa.bindparam("user_id"),
        key=sa.bindparam("key"),
        fingerprint=sa.bindparam("fingerprint"),
        created_at=sa.bindparam("created_at"),
        status=sa.bindparam("status"),
        response_body=sa.bindparam("response_body"),
        content_type=sa.bindparam("content_type"),
    )
    .on_conflict_do_nothing(index_elements=[_TABLE.c.user_id, _TABLE.c.key])
)
_ANSWER = (
    sa.update(_TABLE)
    .where(_TABLE.c.id == sa.bindparam("key_id"))
    .values(
        status=sa.bindparam("status"),
        response_body=sa.bindparam("response_body"),
        content_type=sa.bindparam("content_type"),
    )
)


def _claim(claim: dict) -> int | None:
    """The new key's row id, or None when the user has used this key already."""
    return db.session.scalar(_CLAIM[db.session.get_bind().dialect.name], claim)


def _known_key(claim: dict) -> Response | None:
    """A key used before: its answer again, a refusal, or (its answer forgotten, its request
    dead) this request runs under it."""
    stmt = sa.select(IdempotencyKey).where(
        IdempotencyKey.user_id == claim["user_id"], IdempotencyKey.key == claim["key"]
    )
    if db.session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    record = db.session.scalar(stmt)
    now = claim["created_at"]
    if record is None:
        # Its request failed and freed it between our two statements: the retry will run.
        raise Conflict(IN_FLIGHT)
    if record.created_at < now - KEPT_FOR:
        # Its answer is forgotten: the key starts afresh for this request.
        record.fingerprint = claim["fingerprint"]
        record.status = None
        record.response_body = None
        record.content_type = None
        record.created_at = now
    elif record.fingerprint != claim["fingerprint"]:
        raise ValidationFailed.for_field(
            HEADER,
            "This Idempotency-Key was used for a different request: use a new key for a "
            "new request.",
        )
    elif record.status is not None:
        return _replay(record)
    elif record.created_at > now - ABANDONED_AFTER:
        raise Conflict(IN_FLIGHT)
    else:
        record.created_at = now  # the first attempt died: this one runs
    g.idempotency_key_id = record.id
    return None


def claim_key() -> Response | None:
    key = request.headers.get(HEADER)
    actor = g.get("actor")
    if key is None or request.method not in UNSAFE or actor is None:
        return None
    if not KEY_PATTERN.match(key):
        raise ValidationFailed.for_field(
            HEADER, "Use 1 to 255 visible ASCII characters, e.g. a UUID, one per request."
        )
    # actor.id is read before any unit: a primary key never goes stale.
    claim = {"user_id": actor.id, "key": key, "fingerprint": fingerprint(), "created_at": utcnow()}
    if db.session.get_bind().dialect.name == "postgresql":
        # A new key (nearly every request) is claimed by one statement in the route's own
        # transaction, and commits with its write: a concurrent retry of the same key waits
        # for that commit, then finds the key. Should the route roll back, its claim goes
        # with it, and the answer is kept afterwards (remember_answer).
        claimed = _claim(claim)
        if claimed is not None:
            g.idempotency_key_id, g.idempotency_claim = claimed, claim
            return None
        with unit_of_work(keep_loaded=True):
            return _known_key(claim)
    # SQLite: a write transaction begins IMMEDIATE (one writer), so the claim commits on its own
    # before the route's unit begins.
    with unit_of_work(keep_loaded=True):
        claimed = _claim(claim)
        if claimed is not None:
            g.idempotency_key_id = claimed
            return None
        return _known_key(claim)


def answer_with_the_write(schema: Schema, result: Any, status: int = 200) -> Response | None:
    """For a write route many clients hit at once (a receipt scan): keep its answer under the
    request's Idempotency-Key in the write's own transaction, one commit instead of two, and
    return that answer for the route to give as it is (``result`` through ``schema``, with
    ``status``: what flask-smorest's response would have made of it, made once). None without
    a key: the route answers ``result`` the usual way."""
    key_id = g.get("idempotency_key_id")
    if key_id is None:
        return None
    body = jsonify(schema.dump(result))
    body.status_code = status
    db.session.execute(
        _ANSWER,
        {
            "key_id": key_id,
            "status": status,
            "response_body": body.get_data(as_text=True),
            "content_type": body.content_type,
        },
    )
    g.idempotency_answered = status
    return body


def remember_answer(response: Response) -> Response:
    key_id = g.pop("idempotency_key_id", None)
    claim = g.pop("idempotency_claim", None)
    if key_id is None or g.pop("idempotency_answered", None) == response.status_code:
        return response
    with unit_of_work(keep_loaded=True):  # the answer is made: nothing is read after this
        if response.status_code >= 500 or response.status_code == 429:
            # nothing was written, and a 429 says to come back later: a retry may run again
            db.session.execute(sa.delete(_TABLE).where(_TABLE.c.id == key_id))
            return response
        answer = {
            "status": response.status_code,
            "response_body": _kept_body(response),
            "content_type": response.content_type,
        }
        kept = rows_affected(db.session.execute(_ANSWER, {"key_id": key_id, **answer}))
        if not kept and claim is not None:
            # The route's transaction rolled back and took its claim with it (a refusal):
            # the key is claimed again, with the answer, unless a retry has it already.
            db.session.execute(_ANSWERED_CLAIM, {**claim, **answer})
    return response


def init_idempotency(app: Flask) -> None:
    app.before_request(claim_key)
    app.after_request(remember_answer)
