"""The Merkle tree's hashes and proofs (domain.merkle): known answers, then random trees.

The known answers are RFC 6962's (the hashing RFC 9162 kept) eight-leaf test tree, as published with the
transparency-dev/merkle Go module (github.com/transparency-dev/merkle, proof/verify_test.go: `leaves`, `roots`,
`inclusionProofs`, `consistencyProofs`), the test data Certificate Transparency's implementations share.
"""
from __future__ import annotations

import hashlib

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from jobstore.domain.merkle import (
    EMPTY_ROOT,
    Nodes,
    ProofFailed,
    RootBuilder,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    subtree_root,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                     "606162636465666768696a6b6c6d6e6f")]
ROOTS = [bytes.fromhex(h) for h in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")]
# (leaf index, tree size, proof); the Go file counts leaves from 1
INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (0, 1, []),
]
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]


LOGS = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=70, unique=True)  # as chain hashes are


def nodes_over(leaves: list[bytes]) -> Nodes:
    """Complete subtrees' hashes computed from the leaves themselves (what storage keeps, in the real tree)."""
    hashes = [leaf_hash(leaf) for leaf in leaves]

    def node(level: int, index: int) -> bytes:
        first = index << level
        covered = hashes[first:first + (1 << level)]
        assert len(covered) == 1 << level, f"asked for an incomplete subtree ({level}, {index})"
        return subtree_root(covered)

    return node


def tree_root(leaves: list[bytes]) -> bytes:
    return root(nodes_over(leaves), len(leaves))


def test_the_empty_tree_hashes_to_sha256_of_nothing() -> None:
    assert tree_root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_of_the_published_tree(size: int) -> None:
    assert tree_root(LEAVES[:size]) == ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION)
def test_inclusion_proofs_of_the_published_tree(index: int, size: int, expected: list[str]) -> None:
    nodes = nodes_over(LEAVES[:size])
    proof = inclusion_proof(nodes, index, size)
    assert [p.hex() for p in proof] == expected
    verify_inclusion(index, size, leaf_hash(LEAVES[index]), proof, ROOTS[size - 1])


@pytest.mark.parametrize(("old", "new", "expected"), CONSISTENCY)
def test_consistency_proofs_of_the_published_tree(old: int, new: int, expected: list[str]) -> None:
    proof = consistency_proof(nodes_over(LEAVES[:new]), old, new)
    assert [p.hex() for p in proof] == expected
    verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], proof)


@pytest.mark.parametrize(("old", "new", "expected"), [c for c in CONSISTENCY if c[2]])
def test_published_consistency_proofs_fail_when_anything_is_off(old: int, new: int, expected: list[str]) -> None:
    proof = [bytes.fromhex(h) for h in expected]
    wrong = [(old - 1, new, ROOTS[old - 1], ROOTS[new - 1], proof),
             (old + 1, new, ROOTS[old - 1], ROOTS[new - 1], proof),
             (old, new * 2, ROOTS[old - 1], ROOTS[new - 1], proof),
             (old, new, ROOTS[new - 1], ROOTS[old - 1], proof),
             (old, new, ROOTS[old - 1], ROOTS[new - 1], proof[:-1]),
             (old, new, ROOTS[old - 1], ROOTS[new - 1], [*proof, ROOTS[0]]),
             (old, new, ROOTS[old - 1], ROOTS[new - 1], [ROOTS[0], *proof]),
             (old, new, ROOTS[old - 1], ROOTS[new - 1], [])]
    for m, n, first, second, path in wrong:
        with pytest.raises(ProofFailed):
            verify_consistency(m, n, first, second, path)


@pytest.mark.parametrize("size", range(0, 9))
def test_a_root_built_leaf_by_leaf_is_the_published_root(size: int) -> None:
    builder = RootBuilder()
    for leaf in LEAVES[:size]:
        builder.add(leaf_hash(leaf))
    assert builder.root() == (ROOTS[size - 1] if size else EMPTY_ROOT)


@given(LOGS)
def test_a_root_built_leaf_by_leaf_equals_the_recursive_root(leaves: list[bytes]) -> None:
    builder = RootBuilder()
    for n, leaf in enumerate(leaves, start=1):
        builder.add(leaf_hash(leaf))
        if n in (1, len(leaves) // 2, len(leaves)):
            assert builder.root() == tree_root(leaves[:n])


def test_sizes_that_need_no_proof() -> None:
    verify_consistency(0, 5, EMPTY_ROOT, ROOTS[4], [])
    verify_consistency(3, 3, ROOTS[2], ROOTS[2], [])
    for m, n, first, second, path in [(3, 3, ROOTS[2], ROOTS[3], []), (3, 3, ROOTS[2], ROOTS[2], [ROOTS[0]]),
                                      (4, 3, ROOTS[3], ROOTS[2], []), (0, 2, EMPTY_ROOT, ROOTS[1], [ROOTS[0]])]:
        with pytest.raises(ProofFailed):
            verify_consistency(m, n, first, second, path)


def test_hashes_of_another_length_are_refused() -> None:
    with pytest.raises(ProofFailed, match="bytes"):
        verify_inclusion(0, 2, leaf_hash(LEAVES[0]), [b"WrongLeaf"], ROOTS[1])


# --- random trees



@st.composite
def log_and_leaf(draw: st.DrawFn) -> tuple[list[bytes], int, int]:
    leaves = draw(LOGS)
    size = draw(st.integers(1, len(leaves)))
    return leaves, draw(st.integers(0, size - 1)), size


@st.composite
def log_and_sizes(draw: st.DrawFn) -> tuple[list[bytes], int, int]:
    leaves = draw(LOGS)
    new = draw(st.integers(1, len(leaves)))
    return leaves, draw(st.integers(1, new)), new


def flipped(proof: list[bytes], which: int, bit: int) -> list[bytes]:
    changed = bytearray(proof[which])
    changed[bit // 8] ^= 1 << (bit % 8)
    return [*proof[:which], bytes(changed), *proof[which + 1:]]


@given(log_and_leaf(), st.data())
def test_every_inclusion_proof_verifies_and_any_change_breaks_it(case: tuple[list[bytes], int, int],
                                                                data: st.DataObject) -> None:
    leaves, index, size = case
    nodes, expected_root = nodes_over(leaves), tree_root(leaves[:size])
    proof, leaf = inclusion_proof(nodes, index, size), leaf_hash(leaves[index])
    verify_inclusion(index, size, leaf, proof, expected_root)
    bit = data.draw(st.integers(0, 255), "bit")
    wrong: list[tuple[int, int, bytes, list[bytes]]] = [
        (index, size, flipped([leaf], 0, bit)[0], proof),
        (index, size * 2, leaf, proof),  # the wrong tree sizes that the published tests try
        (index ^ 1 if size > 1 else index + 1, size, leaf, proof)]
    if index < size // 2:
        wrong.append((index, size // 2, leaf, proof))
    if proof:
        wrong.append((index, size, leaf, flipped(proof, data.draw(st.integers(0, len(proof) - 1), "which"), bit)))
        wrong.append((index, size, leaf, proof[:-1]))
    wrong.append((index, size, leaf, [*proof, expected_root]))
    for i, n, hashed, path in wrong:
        if n == size and i == index and hashed == leaf and path == proof:
            continue
        with pytest.raises(ProofFailed):
            verify_inclusion(i, n, hashed, path, expected_root)


@given(log_and_sizes(), st.data())
def test_every_consistency_proof_verifies_and_any_change_breaks_it(case: tuple[list[bytes], int, int],
                                                                  data: st.DataObject) -> None:
    leaves, old, new = case
    nodes = nodes_over(leaves)
    old_root, new_root = tree_root(leaves[:old]), tree_root(leaves[:new])
    proof = consistency_proof(nodes, old, new)
    verify_consistency(old, new, old_root, new_root, proof)
    assume(old < new)
    bit = data.draw(st.integers(0, 255), "bit")
    which = data.draw(st.integers(0, len(proof) - 1), "which")
    for m, n, first, second, path in [(old, new, old_root, new_root, flipped(proof, which, bit)),
                                      (old, new, flipped([old_root], 0, bit)[0], new_root, proof),
                                      (old, new, old_root, flipped([new_root], 0, bit)[0], proof),
                                      (old, new * 2, old_root, new_root, proof),
                                      (old, new, old_root, new_root, proof[:-1])]:
        with pytest.raises(ProofFailed):
            verify_consistency(m, n, first, second, path)


@given(LOGS, st.data())
def test_a_deleted_changed_or_reordered_leaf_changes_the_root(leaves: list[bytes], data: st.DataObject) -> None:
    original = tree_root(leaves)
    where = data.draw(st.integers(0, len(leaves) - 1), "where")
    deleted = leaves[:where] + leaves[where + 1:]
    changed = [*leaves[:where], flipped([leaves[where]], 0, data.draw(st.integers(0, 255), "bit"))[0],
               *leaves[where + 1:]]
    assert tree_root(deleted) != original
    assert tree_root(changed) != original
    other = data.draw(st.integers(0, len(leaves) - 1), "other")
    if other != where:
        swapped = list(leaves)
        swapped[where], swapped[other] = swapped[other], swapped[where]
        assert tree_root(swapped) != original
    # and an old tree's proof of the first leaves no longer leads to the changed tree
    if where > 0:
        with pytest.raises(ProofFailed):
            verify_consistency(where, len(leaves), tree_root(leaves[:where]), tree_root(changed),
                               consistency_proof(nodes_over(leaves), where, len(leaves)))
