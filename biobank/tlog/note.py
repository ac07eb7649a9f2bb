"""C2SP signed notes with Ed25519 (c2sp.org/signed-note) and transparency-log checkpoints
(c2sp.org/tlog-checkpoint), in the key formats Go's ``golang.org/x/mod/sumdb/note`` reads.

- signer key (secret):  ``PRIVATE+KEY+<name>+<8 hex key id>+base64(0x01 || 32-byte seed)``
- verifier key:         ``<name>+<8 hex key id>+base64(0x01 || 32-byte public key)``
- key id:               ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``
- note:                 text (ending in a newline), a blank line, then
                        ``— <name> base64(key id || Ed25519 signature over the text)``
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = 0x01
SIGNER_PREFIX = "PRIVATE+KEY+"
DASH = "\u2014"  # the em dash every signature line begins with
MAX_NOTE_BYTES = 1_000_000


class NoteError(ValueError):
    """A key or note that is malformed or does not verify; the message says which."""


def _raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(name: str, public: bytes, algorithm: int = ED25519) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([algorithm]) + public).digest()[:4]


def _check_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name):
        raise NoteError(f"a key name must be non-empty, without spaces or '+': {name!r}")


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"{what} is not base64") from None


@dataclass(frozen=True)
class Verifier:
    name: str
    public: Ed25519PublicKey

    @property
    def id(self) -> bytes:
        return key_id(self.name, _raw_public(self.public))

    def encode(self) -> str:
        material = base64.b64encode(bytes([ED25519]) + _raw_public(self.public)).decode()
        return f"{self.name}+{self.id.hex()}+{material}"

    @classmethod
    def decode(cls, text: str) -> Verifier:
        parts = text.strip().split("+", 2)
        if len(parts) != 3 or len(parts[1]) != 8:
            raise NoteError("a verifier key reads <name>+<8 hex digits>+<base64 key>")
        name, hex_id, material = parts
        _check_name(name)
        raw = _b64decode(material, "the verifier key")
        if len(raw) != 33 or raw[0] != ED25519:
            raise NoteError("the verifier key is not an Ed25519 key (type 0x01, 32 bytes)")
        verifier = cls(name, Ed25519PublicKey.from_public_bytes(raw[1:]))
        if verifier.id.hex() != hex_id.lower():
            raise NoteError("the verifier key's id does not match its name and key")
        return verifier

    def verify(self, note: str) -> str:
        """The note's text, if this key signed it; ``NoteError`` otherwise. Signatures by other
        keys are ignored, as the format requires."""
        text, signatures = split_note(note)
        verified = False
        for name, signature in signatures:
            if name != self.name or signature[:4] != self.id:
                continue
            try:
                self.public.verify(signature[4:], text.encode())
            except InvalidSignature:
                raise NoteError(f"the signature by {self.name} does not match the note") from None
            verified = True
        if not verified:
            raise NoteError(f"the note carries no signature by {self.name} ({self.id.hex()})")
        return text


@dataclass(frozen=True)
class Signer:
    name: str
    private: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> Signer:
        _check_name(name)
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, self.private.public_key())

    def encode(self) -> str:
        seed = self.private.private_bytes_raw()
        material = base64.b64encode(bytes([ED25519]) + seed).decode()
        return f"{SIGNER_PREFIX}{self.name}+{self.verifier.id.hex()}+{material}"

    @classmethod
    def decode(cls, text: str) -> Signer:
        text = text.strip()
        if not text.startswith(SIGNER_PREFIX):
            raise NoteError(f"a signer key begins with {SIGNER_PREFIX!r}")
        parts = text[len(SIGNER_PREFIX) :].split("+", 2)
        if len(parts) != 3 or len(parts[1]) != 8:
            raise NoteError("a signer key reads PRIVATE+KEY+<name>+<8 hex digits>+<base64 seed>")
        name, hex_id, material = parts
        _check_name(name)
        raw = _b64decode(material, "the signer key")
        if len(raw) != 33 or raw[0] != ED25519:
            raise NoteError("the signer key is not an Ed25519 key (type 0x01, 32 bytes)")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if signer.verifier.id.hex() != hex_id.lower():
            raise NoteError("the signer key's id does not match its name and key")
        return signer

    def sign(self, text: str) -> str:
        """The signed note: ``text`` (ending in a newline), a blank line, the signature."""
        check_text(text)
        signature = self.verifier.id + self.private.sign(text.encode())
        return f"{text}\n{DASH} {self.name} {base64.b64encode(signature).decode()}\n"


def check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("a note's text ends with a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("a note holds no control characters but newlines")


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """(text, [(key name, key id || signature)]) of a signed note."""
    if len(note.encode()) > MAX_NOTE_BYTES:
        raise NoteError("the note is too large")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise NoteError("a signed note is text, a blank line, then signature lines")
    text, block = note[: cut + 1], note[cut + 2 :]
    check_text(text)
    signatures = []
    for line in block.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH:
            raise NoteError(f"not a signature line: {line[:60]!r}")
        signature = _b64decode(parts[2], "a signature")
        if len(signature) < 5:
            raise NoteError("a signature is shorter than its key id")
        signatures.append((parts[1], signature))
    if not signatures:
        raise NoteError("the note carries no signature")
    return text, signatures


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: its origin, size and root hash (c2sp.org/tlog-checkpoint)."""

    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or any(line == "" for line in lines[:-1]):
            raise NoteError("a checkpoint is an origin, a tree size and a root hash, one a line")
        origin, size_text, root_text = lines[:3]
        if not size_text.isdigit() or str(int(size_text)) != size_text:
            raise NoteError(f"the checkpoint's tree size is not a number: {size_text[:30]!r}")
        root = _b64decode(root_text, "the checkpoint's root hash")
        if len(root) != 32:
            raise NoteError("the checkpoint's root hash is not 32 bytes")
        return cls(origin, int(size_text), root)


def open_checkpoint(note: str, verifier: Verifier) -> Checkpoint:
    """The checkpoint in a signed note, if ``verifier`` signed it and it names its log."""
    checkpoint = Checkpoint.parse(verifier.verify(note))
    if checkpoint.origin != verifier.name:
        raise NoteError(f"the checkpoint is of log {checkpoint.origin!r}, not {verifier.name!r}")
    return checkpoint
