"""RFC 9162 §2.1 Merkle tree hashes, inclusion and consistency proofs, and their verification.

Where the hashes live is the caller's business: a ``SubtreeStore`` answers the hashes of
complete subtrees at its *stored levels* (0 = the leaves, then every ``stride``-th level).
Every other hash (a root, a proof's sibling) is computed here from those, so a tree of n leaves
needs about n / (2^stride - 1) stored interior hashes beside its leaves, and any proof reads a
few dozen of them.

Proofs are built in two passes: first the subtree hashes a proof needs are named (pure index
arithmetic), then fetched from the store in one batch per level, then combined.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

# A complete subtree: (level, index) covers leaves [index * 2**level, (index + 1) * 2**level).
Subtree = tuple[int, int]
# A leaf range [start, end) in the shape RFC 9162's recursion gives it: start is a multiple of
# the largest power of two below end - start.
LeafRange = tuple[int, int]


class ProofError(ValueError):
    """A proof (or the request for one) that cannot be right; the message says why."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class SubtreeStore(Protocol):
    """The stored hashes of a tree: leaves at level 0, and complete subtrees at every level
    that is a multiple of ``stride``."""

    stride: int

    def read(self, level: int, indices: Sequence[int]) -> Mapping[int, bytes]:
        """The stored hashes at ``level`` (a multiple of ``stride``) for ``indices``."""
        ...


def _split(size: int) -> int:
    """The largest power of two smaller than ``size`` (size > 1): RFC 9162's k."""
    return 1 << ((size - 1).bit_length() - 1)


def _fold(row: list[bytes]) -> bytes:
    """The root of a complete subtree from its 2**k nodes at one level."""
    while len(row) > 1:
        row = [node_hash(row[i], row[i + 1]) for i in range(0, len(row), 2)]
    return row[0]


def complete_subtrees(start: int, end: int) -> list[Subtree]:
    """The complete subtrees whose right fold is MTH(D[start:end]), left to right."""
    pieces: list[Subtree] = []
    while start < end:
        size = end - start
        width = size if size & (size - 1) == 0 else _split(size)
        level = width.bit_length() - 1
        if start % width:
            raise ProofError(f"[{start}, {end}) is not a subtree of an RFC 9162 tree")
        pieces.append((level, start >> level))
        start += width
    return pieces


def inclusion_ranges(index: int, size: int) -> list[LeafRange]:
    """RFC 9162 §2.1.3.1 PATH(index, D[0:size]): the leaf ranges whose hashes form the proof,
    from the leaf's sibling up to the root's other child."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size} leaves")
    path: list[LeafRange] = []
    start, end = 0, size
    while end - start > 1:
        middle = start + _split(end - start)
        if index < middle:
            path.append((middle, end))
            end = middle
        else:
            path.append((start, middle))
            start = middle
    return path[::-1]


def consistency_ranges(old_size: int, new_size: int) -> list[LeafRange]:
    """RFC 9162 §2.1.4.1 PROOF(old_size, D[0:new_size]) as leaf ranges."""
    if not 0 < old_size <= new_size:
        raise ProofError(
            f"a consistency proof goes from a tree of at least one leaf to one at least as "
            f"large, not from {old_size} to {new_size}"
        )
    siblings: list[LeafRange] = []
    start, end, whole_old_tree = 0, new_size, True
    while old_size != end:
        middle = start + _split(end - start)
        if old_size <= middle:
            siblings.append((middle, end))
            end = middle
        else:
            siblings.append((start, middle))
            start, whole_old_tree = middle, False
    first = [] if whole_old_tree else [(start, end)]
    return first + siblings[::-1]


class HashReader:
    """Subtree hashes from a store, each fetched once, in batches.

    ``hashes(ranges)`` answers MTH for every range: it names the stored hashes they need,
    reads each level's in one call, and folds them up.
    """

    def __init__(self, store: SubtreeStore) -> None:
        self.store = store
        self._known: dict[Subtree, bytes] = {}

    def remember(self, level: int, index: int, value: bytes) -> None:
        """A hash the caller already has (e.g. leaves it just wrote)."""
        self._known[(level, index)] = value

    def _stored_parts(self, subtree: Subtree) -> tuple[int, range]:
        level, index = subtree
        base = level - level % self.store.stride
        width = 1 << (level - base)
        return base, range(index * width, (index + 1) * width)

    def _fetch(self, subtrees: Iterable[Subtree]) -> None:
        wanted: dict[int, set[int]] = {}
        for subtree in subtrees:
            if subtree in self._known:
                continue
            base, parts = self._stored_parts(subtree)
            wanted.setdefault(base, set()).update(i for i in parts if (base, i) not in self._known)
        for base, indices in sorted(wanted.items()):
            found = self.store.read(base, sorted(indices))
            missing = indices - found.keys()
            if missing:
                raise ProofError(
                    f"the store lacks {len(missing)} hash(es) at level {base}, e.g. index "
                    f"{min(missing)}"
                )
            for i, value in found.items():
                self._known[(base, i)] = bytes(value)

    def subtree(self, level: int, index: int) -> bytes:
        known = self._known.get((level, index))
        if known is not None:
            return known
        base, indices = self._stored_parts((level, index))
        value = _fold([self._known[(base, i)] for i in indices])
        self._known[(level, index)] = value
        return value

    def hashes(self, ranges: Sequence[LeafRange]) -> list[bytes]:
        pieces = [complete_subtrees(start, end) for start, end in ranges]
        self._fetch(subtree for piece in pieces for subtree in piece)
        results = []
        for piece in pieces:
            value = self.subtree(*piece[-1])
            for subtree in reversed(piece[:-1]):
                value = node_hash(self.subtree(*subtree), value)
            results.append(value)
        return results

    def root(self, size: int) -> bytes:
        return EMPTY_ROOT if size == 0 else self.hashes([(0, size)])[0]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return self.hashes(inclusion_ranges(index, size))

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        return self.hashes(consistency_ranges(old_size, new_size))


def new_stored_subtrees(
    old_size: int, new_leaves: Sequence[bytes], reader: HashReader
) -> list[tuple[int, int, bytes]]:
    """The stored-level subtrees that appending ``new_leaves`` to a tree of ``old_size``
    leaves completes, as (level, index, hash), lowest level first. ``reader`` supplies the
    stored hashes of the tree so far; the new leaves and subtrees are remembered on it, so
    its ``root`` answers for the grown tree."""
    stride = reader.store.stride
    for offset, value in enumerate(new_leaves):
        reader.remember(0, old_size + offset, value)
    new_size = old_size + len(new_leaves)
    completed: list[tuple[int, int, bytes]] = []
    level = stride
    while 1 << level <= new_size:
        first, stop = old_size >> level, new_size >> level
        if first < stop:
            below = level - stride
            reader._fetch((below, i) for i in range(first << stride, stop << stride))
            for index in range(first, stop):
                children = range(index << stride, (index + 1) << stride)
                value = _fold([reader.subtree(below, i) for i in children])
                reader.remember(level, index, value)
                completed.append((level, index, value))
        level += stride
    return completed


# --- verification (what an auditor runs) ----------------------------------------------------


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes, not a SHA-256 hash")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2: the root a leaf hash and its inclusion proof lead to."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size} leaves")
    _check_hash(leaf, "the leaf hash")
    fn, sn, result = index, size - 1, leaf
    for element in proof:
        _check_hash(element, "a proof element")
        if sn == 0:
            raise ProofError("the proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            result = node_hash(element, result)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            result = node_hash(result, element)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the proof is shorter than the tree is high")
    return result


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ``ProofError`` unless ``leaf`` is leaf ``index`` of the tree of ``size`` with
    ``root``."""
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise ProofError("the inclusion proof does not lead to the tree's root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2: raise ``ProofError`` unless the tree of ``new_size`` leaves with
    ``new_root`` extends the tree of ``old_size`` with ``old_root``."""
    for element in proof:
        _check_hash(element, "a proof element")
    if new_size < old_size:
        raise ProofError(f"the new tree ({new_size}) is smaller than the old ({old_size})")
    if old_size == 0:
        raise ProofError("a consistency proof from an empty tree proves nothing")
    if old_size == new_size:
        if proof:
            raise ProofError("two trees of one size need an empty proof")
        if old_root != new_root:
            raise ProofError("two trees of one size have different roots")
        return
    if not proof:
        raise ProofError("the proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    first = second = path[0]
    for element in path[1:]:
        if sn == 0:
            raise ProofError("the proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            first = node_hash(element, first)
            second = node_hash(element, second)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            second = node_hash(second, element)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the proof is shorter than the tree is high")
    if first != old_root:
        raise ProofError("the proof does not lead to the old tree's root")
    if second != new_root:
        raise ProofError("the proof does not lead to the new tree's root")


@dataclass
class MemoryStore:
    """A whole tree in memory: for tests, and for an auditor rebuilding a log from its leaves."""

    stride: int
    levels: dict[int, list[bytes]]

    @classmethod
    def of_leaves(cls, leaves: Sequence[bytes], stride: int = 4) -> MemoryStore:
        return cls.of_leaf_hashes([leaf_hash(leaf) for leaf in leaves], stride)

    @classmethod
    def of_leaf_hashes(cls, hashes: Sequence[bytes], stride: int = 4) -> MemoryStore:
        store = cls(stride, {0: list(hashes)})
        level, row = 0, store.levels[0]
        while len(row) >= 2:
            row = [node_hash(row[i], row[i + 1]) for i in range(0, len(row) - 1, 2)]
            level += 1
            if level % stride == 0:
                store.levels[level] = row
        return store

    def read(self, level: int, indices: Sequence[int]) -> Mapping[int, bytes]:
        row = self.levels.get(level, [])
        return {i: row[i] for i in indices if i < len(row)}


class CompactRange:
    """A tree grown one leaf at a time keeping only the O(log n) complete subtrees on its
    right edge: how an auditor recomputes a whole log's roots in one pass without holding it.
    ``append`` answers the subtrees the new leaf completed, as (level, index, hash)."""

    def __init__(self) -> None:
        self.size = 0
        self._edge: list[tuple[int, bytes]] = []  # (level, hash), highest level first

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        completed = [(0, self.size, leaf)]
        level, value = 0, leaf
        while self._edge and self._edge[-1][0] == level:
            _, left = self._edge.pop()
            value = node_hash(left, value)
            level += 1
            completed.append((level, self.size >> level, value))
        self._edge.append((level, value))
        self.size += 1
        return completed

    def root(self) -> bytes:
        if not self._edge:
            return EMPTY_ROOT
        value = self._edge[-1][1]
        for _, left in reversed(self._edge[:-1]):
            value = node_hash(left, value)
        return value
