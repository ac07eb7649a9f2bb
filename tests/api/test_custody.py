"""The custody log over HTTP, as an auditor uses it (DESIGN §7a): fetch the verifier key and a
signed checkpoint, check one tube's events against it, check that a later checkpoint extends an
earlier one. Everything is checked here with the RFC 9162 and C2SP rules alone."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature

from biobank.models import EventType
from biobank.sequencer import sequence_pending
from biobank.services.core.custody import record_event
from biobank.tlog.merkle import leaf_hash, verify_consistency, verify_inclusion
from biobank.tlog.note import Verifier, open_checkpoint
from biobank.unit_of_work import unit_of_work
from tests.factories import raw_sample


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


def _flag(actor, sample, count: int) -> None:
    with unit_of_work():
        for n in range(count):
            record_event(EventType.FLAGGED, actor=actor, sample=sample, details={"n": n})


def _checkpoint(caller, verifier: Verifier):
    response = caller.get("/api/v1/custody/checkpoint")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return open_checkpoint(response.get_data(as_text=True), verifier)


def _verifier(caller) -> Verifier:
    response = caller.get("/api/v1/custody/log-key")
    assert response.status_code == 200
    return Verifier.decode(response.get_data(as_text=True))


def test_a_tubes_proof_checks_against_the_signed_checkpoint(
    api, technician, collector, received_tubes
):
    caller = api(technician)
    tube = received_tubes(collector)[0]
    _flag(technician, raw_sample(technician.site), 6)  # another tube's events around this one
    _flag(technician, tube, 3)
    sequence_pending()
    _flag(technician, tube, 1)  # recorded after the sequencer ran: pending, not yet provable

    response = caller.get(f"/api/v1/samples/{tube.barcode}/custody-proof")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    checkpoint = open_checkpoint(body["checkpoint"], _verifier(caller))
    assert checkpoint.size == body["tree_size"]
    proven = body["events"]
    # Collected, shipped, received and flagged three times; the fourth flag waits.
    assert len(proven) >= 5 and len(body["pending"]) == 1
    for event in proven:
        verify_inclusion(
            event["leaf_index"],
            checkpoint.size,
            leaf_hash(_b64(event["leaf"])),
            [_b64(h) for h in event["inclusion_proof"]],
            checkpoint.root,
        )
    # The leaf is the event as recorded: the tube's barcode is in it.
    assert all(tube.barcode.encode() in _b64(event["leaf"]) for event in proven)


def test_a_later_checkpoint_extends_an_earlier_one(api, technician):
    caller = api(technician)
    verifier = _verifier(caller)
    tube = raw_sample(technician.site)
    _flag(technician, tube, 5)
    sequence_pending()
    old = _checkpoint(caller, verifier)
    _flag(technician, tube, 9)
    sequence_pending()
    new = _checkpoint(caller, verifier)
    assert new.size > old.size

    response = caller.get(f"/api/v1/custody/consistency?from={old.size}&to={new.size}")
    assert response.status_code == 200, response.get_json()
    proof = [_b64(h) for h in response.get_json()["proof"]]
    verify_consistency(old.size, new.size, old.root, new.root, proof)


def test_a_consistency_proof_past_the_log_says_how_long_it_is(api, technician):
    _flag(technician, raw_sample(technician.site), 2)
    sequence_pending()
    response = api(technician).get("/api/v1/custody/consistency?from=1&to=99")
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert "to" in response.get_json()["errors"]


def test_status_counts_what_waits_for_the_sequencer(api, technician):
    caller = api(technician)
    tube = raw_sample(technician.site)
    _flag(technician, tube, 4)
    sequence_pending()
    _flag(technician, tube, 2)
    body = caller.get("/api/v1/custody/status").get_json()
    assert body["pending"] == 2
    assert body["tree_size"] >= 4
    assert body["oldest_pending_seconds"] >= 0


def test_another_sites_tube_has_no_proof_here(
    api, collector, other_collector, finalized_collection
):
    tube = finalized_collection(other_collector).samples[0]
    sequence_pending()
    assert (
        api(other_collector).get(f"/api/v1/samples/{tube.barcode}/custody-proof").status_code == 200
    )
    response = api(collector).get(f"/api/v1/samples/{tube.barcode}/custody-proof")
    assert response.status_code == 404


def test_the_log_needs_a_login_but_the_health_check_does_not(client):
    for path in ("/api/v1/custody/checkpoint", "/api/v1/custody/log-key", "/api/v1/custody/status"):
        assert client.get(path).status_code == 401
    health = client.get("/api/v1/health")
    assert health.status_code == 200
    assert health.get_json()["status"] == "ok"
    assert health.get_json()["sequencer_delay_seconds"] >= 0


def _auditors_script(app) -> dict:
    """The Python block of docs/api.md's auditing section, run: its functions by name."""
    guide = (Path(app.root_path).parent / "docs" / "api.md").read_text(encoding="utf-8")
    block = guide.split("## Auditing the chain of custody", 1)[1].split("```python\n", 1)[1]
    script: dict = {"BASE": "/api/v1"}
    exec(block.split("```", 1)[0], script)
    return script


def test_the_auditors_script_in_the_api_guide_checks_a_tube(
    api, app, technician, collector, received_tubes
):
    """docs/api.md shows an auditor checking a tube with hashlib and cryptography alone: run it
    (its HTTP fetch swapped for the test client), and see it refuse a forged proof."""
    script = _auditors_script(app)
    caller = api(technician)
    served: dict[str, bytes] = {}

    def fetch(path, token):
        return served.get(path) or caller.get("/api/v1" + path).get_data()

    script["fetch"] = fetch
    tube = received_tubes(collector)[0]
    sequence_pending()
    key = caller.get("/api/v1/custody/log-key").get_data(as_text=True)
    proven, pending = script["check_tube"](tube.barcode, "token", key)
    assert proven >= 4 and pending == 0

    body = caller.get(f"/api/v1/samples/{tube.barcode}/custody-proof").get_json()
    body["events"][1]["leaf"] = base64.b64encode(b"{}").decode()  # an event rewritten
    served[f"/samples/{tube.barcode}/custody-proof"] = json.dumps(body).encode()
    with pytest.raises(AssertionError):
        script["check_tube"](tube.barcode, "token", key)
    body["checkpoint"] = body["checkpoint"].replace("\n", "\n1", 1)  # a forged tree size
    served[f"/samples/{tube.barcode}/custody-proof"] = json.dumps(body).encode()
    with pytest.raises(InvalidSignature):
        script["check_tube"](tube.barcode, "token", key)


def test_the_auditors_script_reads_a_key_whose_base64_holds_a_plus(app):
    """A verifier key is <name>+<id>+<base64>, and base64 may itself hold a +."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from biobank.tlog.note import Signer

    script = _auditors_script(app)
    signer = Signer("auditor.example/log", Ed25519PrivateKey.from_private_bytes(bytes([8]) * 32))
    key = signer.verifier.encode()
    assert key.count("+") > 2
    root = bytes(range(32))
    note = signer.sign(f"auditor.example/log\n7\n{base64.b64encode(root).decode()}\n")
    assert script["open_checkpoint"](note, key) == (7, root)
