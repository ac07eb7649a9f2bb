"""Signed notes and checkpoints in the formats Go's sumdb/note and C2SP publish, checked
against their published examples."""

from __future__ import annotations

import base64

import pytest

from biobank.tlog.note import Checkpoint, NoteError, Signer, Verifier, open_checkpoint

# golang.org/x/mod/sumdb/note's own test key and note (note_test.go, TestSign).
GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXg"
    "KvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
# c2sp.org/signed-note's example.
C2SP_VERIFIER = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2O"
    "NncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)


def test_signing_reproduces_go_sumdb_notes_signature():
    signer = Signer.decode(GO_SIGNER)
    assert signer.encode() == GO_SIGNER
    assert signer.verifier.encode() == GO_VERIFIER
    assert signer.sign(GO_TEXT) == GO_NOTE  # Ed25519 is deterministic


def test_verifying_the_published_examples():
    assert Verifier.decode(GO_VERIFIER).verify(GO_NOTE) == GO_TEXT
    assert Verifier.decode(C2SP_VERIFIER).verify(C2SP_NOTE) == "This is an example message.\n"


def test_a_changed_text_or_signature_is_refused():
    verifier = Verifier.decode(GO_VERIFIER)
    with pytest.raises(NoteError, match="does not match"):
        verifier.verify(GO_NOTE.replace("cryptography", "cryptographY"))
    with pytest.raises(NoteError, match=r"no signature by example\.com/foo"):
        Verifier.decode(C2SP_VERIFIER).verify(GO_NOTE.replace("PeterNeumann", "example.com/foo"))


def test_signatures_by_unknown_keys_are_ignored():
    other = Signer.generate("witness.example/w1")
    cosigned = GO_NOTE + other.sign(GO_TEXT).split("\n\n", 1)[1]
    assert Verifier.decode(GO_VERIFIER).verify(cosigned) == GO_TEXT


@pytest.mark.parametrize(
    "key",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong id
        "PeterNeumann+c74f20a3+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # not Ed25519
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # space in name
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a3+not-base64!",
    ],
)
def test_malformed_verifier_keys_are_refused(key):
    with pytest.raises(NoteError):
        Verifier.decode(key)


def test_checkpoint_round_trip_and_origin_check():
    signer = Signer.generate("biobank.example.org/custody")
    checkpoint = Checkpoint("biobank.example.org/custody", 20852163, bytes(range(32)))
    note = signer.sign(checkpoint.text())
    assert note.startswith(
        "biobank.example.org/custody\n20852163\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\n"
        "— biobank.example.org/custody "
    )
    assert open_checkpoint(note, signer.verifier) == checkpoint
    stranger = Signer.generate("elsewhere.example/log")
    with pytest.raises(NoteError, match=r"not 'elsewhere\.example/log'"):
        open_checkpoint(stranger.sign(checkpoint.text()), stranger.verifier)


@pytest.mark.parametrize(
    "text",
    [
        "origin\n012\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "origin\n-1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "origin\n12\nAAEC\n",
        "origin\n12\n",
    ],
)
def test_malformed_checkpoints_are_refused(text):
    with pytest.raises(NoteError):
        Checkpoint.parse(text)


def test_key_id_is_the_published_derivation():
    verifier = Verifier.decode(GO_VERIFIER)
    raw = base64.b64decode(GO_VERIFIER.split("+")[2])
    import hashlib

    assert verifier.id == hashlib.sha256(b"PeterNeumann\n" + raw).digest()[:4]
