"""The custody log for auditors (DESIGN §7a): checkpoints, the verifier key, proofs."""

from __future__ import annotations

import base64

import sqlalchemy as sa
from flask import Response

from biobank.api.common import API_PREFIX, Blueprint
from biobank.extensions import db
from biobank.schemas.custody import (
    ConsistencyQuerySchema,
    ConsistencySchema,
    CustodyProofSchema,
    HealthSchema,
    LogStatusSchema,
)
from biobank.security import current_actor
from biobank.services.core import custody_log

blp = Blueprint(
    "api_custody",
    __name__,
    url_prefix=API_PREFIX,
    description="The chain of custody as a transparency log: checkpoints and proofs",
)

TEXT_RESPONSE = {"content": {"text/plain": {"schema": {"type": "string"}}}}


def _text(body: str) -> Response:
    return Response(body, mimetype="text/plain")


@blp.get("/custody/checkpoint")
@blp.doc(responses={"200": {"description": "A C2SP checkpoint, signed note", **TEXT_RESPONSE}})
@blp.problems(401, 503)
def checkpoint():
    """The log's newest tree head as a signed checkpoint: keep it somewhere the database's
    users cannot reach, and check later that the log still extends it."""
    current_actor()
    return _text(custody_log.signed_checkpoint().note)


@blp.get("/custody/log-key")
@blp.doc(responses={"200": {"description": "The note verifier key", **TEXT_RESPONSE}})
@blp.problems(401, 503)
def log_key():
    """The key checkpoints are signed with, as ``<name>+<key id>+<key>`` (Go's sumdb/note)."""
    current_actor()
    return _text(custody_log.log_verifier_key() + "\n")


@blp.get("/custody/consistency")
@blp.arguments(ConsistencyQuerySchema, location="query")
@blp.response(200, ConsistencySchema)
@blp.problems(401, 422)
def consistency(args):
    """RFC 9162 consistency proof: the log at size ``to`` extends the log at size ``from``."""
    current_actor()
    proof = custody_log.consistency_proof(args["from_"], args["to"])
    return {
        "from_": args["from_"],
        "to": args["to"],
        "proof": [base64.b64encode(h).decode() for h in proof],
    }


@blp.get("/custody/status")
@blp.response(200, LogStatusSchema)
@blp.problems(401)
def status():
    """How far the sequencer has got: the tree's size and what still waits."""
    current_actor()
    log = custody_log.log_status()
    return {
        "tree_size": log.tree_size,
        "sequenced_at": log.sequenced_at,
        "pending": log.pending,
        "oldest_pending_seconds": round(log.oldest_pending_seconds(), 3),
    }


@blp.get("/samples/<barcode>/custody-proof")
@blp.response(200, CustodyProofSchema)
@blp.problems(401, 404, 422, 503)
def custody_proof(barcode: str):
    """Every event of the tube with its leaf and inclusion proof against a signed checkpoint:
    check one tube in O(log n) hashes, without the rest of the log."""
    return custody_log.custody_proof(current_actor(), barcode).as_json()


@blp.get("/health")
@blp.response(200, HealthSchema)
@blp.doc(security=[])
def health():
    """For a load balancer, no login: the database answers, and how long the oldest custody
    event has waited for the sequencer."""
    db.session.execute(sa.select(1))
    return {
        "status": "ok",
        "sequencer_delay_seconds": round(custody_log.log_status().oldest_pending_seconds(), 3),
    }
