"""RFC 9162 hashing and proofs, checked against the published vectors: the RFC 6962 reference
tree's roots and proofs, and transparency-dev/merkle's verification probes (every corruption
of a good proof must be refused)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from biobank.tlog.merkle import (
    EMPTY_ROOT,
    HashReader,
    MemoryStore,
    ProofError,
    leaf_hash,
    new_stored_subtrees,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

# The RFC 6962 reference tree (CT's and transparency-dev's test data): 8 leaves, and the root
# of each prefix.
LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index, tree size, proof) and (old size, new size, proof), as published.
INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
PROBES = json.loads((Path(__file__).parent / "rfc9162_probes.json").read_text())


def _b64(values):
    return [base64.b64decode(v) for v in values or []]


def test_hashing_matches_rfc_vectors():
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex() == ROOTS[0]
    assert leaf_hash(b"L123456").hex() == (
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert node_hash(b"N123", b"N456").hex() == (
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


@pytest.mark.parametrize("stride", [1, 2, 4])
def test_roots_of_the_reference_tree(stride):
    for size in range(1, 9):
        reader = HashReader(MemoryStore.of_leaves(LEAVES[:size], stride))
        assert reader.root(size).hex() == ROOTS[size - 1]
    assert HashReader(MemoryStore.of_leaves([])).root(0) == EMPTY_ROOT


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_proofs_match_the_published_ones(index, size, proof):
    reader = HashReader(MemoryStore.of_leaves(LEAVES[:size], stride=2))
    assert [h.hex() for h in reader.inclusion_proof(index, size)] == proof
    verify_inclusion(
        index, size, leaf_hash(LEAVES[index]), [bytes.fromhex(h) for h in proof],
        bytes.fromhex(ROOTS[size - 1]),
    )  # fmt: skip


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_proofs_match_the_published_ones(old, new, proof):
    reader = HashReader(MemoryStore.of_leaves(LEAVES[:new], stride=2))
    assert [h.hex() for h in reader.consistency_proof(old, new)] == proof
    verify_consistency(
        old, new, bytes.fromhex(ROOTS[old - 1]), bytes.fromhex(ROOTS[new - 1]),
        [bytes.fromhex(h) for h in proof],
    )  # fmt: skip


@pytest.mark.parametrize("probe", PROBES["inclusion"], ids=lambda p: p["file"])
def test_inclusion_probes(probe):
    arguments = (
        probe["leafIdx"],
        probe["treeSize"],
        base64.b64decode(probe["leafHash"] or ""),
        _b64(probe["proof"]),
        base64.b64decode(probe["root"] or ""),
    )
    if probe["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*arguments)
    else:
        verify_inclusion(*arguments)


@pytest.mark.parametrize("probe", PROBES["consistency"], ids=lambda p: p["file"])
def test_consistency_probes(probe):
    arguments = (
        probe["size1"],
        probe["size2"],
        base64.b64decode(probe["root1"] or ""),
        base64.b64decode(probe["root2"] or ""),
        _b64(probe["proof"]),
    )
    if probe["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*arguments)
    else:
        verify_consistency(*arguments)


def test_the_probes_are_the_whole_published_set():
    assert len(PROBES["inclusion"]) == 98
    assert len(PROBES["consistency"]) == 98
    assert sum(not p["wantErr"] for p in PROBES["inclusion"]) >= 5


@given(
    size=st.integers(1, 300),
    data=st.data(),
    stride=st.sampled_from([1, 3, 4, 8]),
)
def test_every_proof_of_a_random_tree_verifies(size, data, stride):
    leaves = [i.to_bytes(4, "big") for i in range(size)]
    reader = HashReader(MemoryStore.of_leaves(leaves, stride))
    root = reader.root(size)
    index = data.draw(st.integers(0, size - 1))
    verify_inclusion(
        index, size, leaf_hash(leaves[index]), reader.inclusion_proof(index, size), root
    )
    old = data.draw(st.integers(1, size))
    old_root = HashReader(MemoryStore.of_leaves(leaves[:old], stride)).root(old)
    verify_consistency(old, size, old_root, root, reader.consistency_proof(old, size))
    with pytest.raises(ProofError):
        verify_inclusion(
            index, size, leaf_hash(b"not a leaf"), reader.inclusion_proof(index, size), root
        )


@given(
    batches=st.lists(st.integers(1, 70), min_size=1, max_size=8),
    stride=st.sampled_from([1, 2, 4]),
)
def test_growing_a_tree_in_batches_stores_what_a_whole_build_stores(batches, stride):
    """The sequencer's arithmetic: appending batch after batch leaves the same stored levels
    and root as building the tree at once."""
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(sum(batches))]
    grown = MemoryStore(stride, {0: []})
    size = 0
    for batch in batches:
        new = leaves[size : size + batch]
        reader = HashReader(grown)
        completed = new_stored_subtrees(size, new, reader)
        grown.levels[0].extend(new)
        for level, index, value in completed:
            row = grown.levels.setdefault(level, [])
            assert index == len(row)
            row.append(value)
        size += batch
        assert reader.root(size) == HashReader(grown).root(size)
    whole = MemoryStore.of_leaf_hashes(leaves, stride)
    assert grown.levels == whole.levels


def test_a_compact_range_gives_every_prefix_root_and_each_completed_subtree():
    from biobank.tlog.merkle import CompactRange

    grown = CompactRange()
    assert grown.root() == EMPTY_ROOT
    completed = {}
    for size, leaf in enumerate(LEAVES, start=1):
        for level, index, value in grown.append(leaf_hash(leaf)):
            completed[(level, index)] = value
        assert grown.root().hex() == ROOTS[size - 1]
    whole = MemoryStore.of_leaves(LEAVES, stride=1)
    assert completed == {
        (level, index): value
        for level, row in whole.levels.items()
        for index, value in enumerate(row)
    }
