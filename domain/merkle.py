"""The Merkle tree over the global log, as RFC 9162 (Certificate Transparency 2.0) defines it in section 2.1.

Leaves are the log's events in position order, counted from 0. The leaf of an event is its chain hash: the 32
bytes whose hex is the event's `hash`, the SHA-256 of its canonical record (domain.chain), so the tree commits
to every canonical record and building it needs no second encoding of the events. Hashes are RFC 9162's:

    leaf hash       SHA-256(0x00 || leaf)
    node hash       SHA-256(0x01 || left || right)
    MTH(D[0:n])     the root of the n leaves: for n > 1, with k the largest power of two below n,
                    node hash of MTH(D[0:k]) and MTH(D[k:n]); for one leaf its leaf hash; SHA-256("") for none

Proofs are made here from a `Nodes` source, which answers the hash of a complete subtree (2**level leaves
starting at leaf index * 2**level); where those hashes are kept is the storage's business. Verification is RFC
9162's own algorithms (sections 2.1.3.2 and 2.1.4.2), written apart from the code that makes proofs so that the
one checks the other.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF_PREFIX, _NODE_PREFIX = b"\x00", b"\x01"

Nodes = Callable[[int, int], bytes]
"""(level, index) -> the hash of the complete subtree of leaves [index * 2**level, (index + 1) * 2**level)."""


class ProofFailed(Exception):
    """A proof does not prove what it was offered for."""


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(_LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two below `size` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def subtree_root(hashes: Sequence[bytes]) -> bytes:
    """The root over `hashes` taken as the bottom row of a tree (leaf hashes, or roots of equal complete subtrees),
    split as MTH splits."""
    if not hashes:
        return EMPTY_ROOT
    row, sha256 = list(hashes), hashlib.sha256  # node_hash inlined: the tree's builder spends its time here
    while len(row) > 1:
        paired = [sha256(_NODE_PREFIX + row[i] + row[i + 1]).digest() for i in range(0, len(row) - 1, 2)]
        if len(row) % 2:
            paired.append(row[-1])
        row = paired
    return row[0]


class RootBuilder:
    """Roots of a tree whose leaf hashes arrive one by one, holding only one hash per level: the roots of the
    complete subtrees its size decomposes into (a compact range)."""

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []  # (leaves, hash), largest first

    def add(self, hashed: bytes) -> None:
        self.size += 1
        leaves, top = 1, hashed
        while self._stack and self._stack[-1][0] == leaves:
            below = self._stack.pop()[1]
            leaves, top = leaves * 2, node_hash(below, top)
        self._stack.append((leaves, top))

    def root(self) -> bytes:
        """MTH of the leaves added so far."""
        if not self._stack:
            return EMPTY_ROOT
        hashed = self._stack[-1][1]
        for _, larger in reversed(self._stack[:-1]):
            hashed = node_hash(larger, hashed)
        return hashed


def range_hash(nodes: Nodes, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a range whose start is aligned as the RFC's recursion leaves it (a multiple of the
    largest power of two not above its length)."""
    size = end - start
    if size & (size - 1) == 0:
        level = size.bit_length() - 1
        return nodes(level, start >> level)
    k = _split(size)
    return node_hash(range_hash(nodes, start, start + k), range_hash(nodes, start + k, end))


def root(nodes: Nodes, size: int) -> bytes:
    return EMPTY_ROOT if size == 0 else range_hash(nodes, 0, size)


def inclusion_proof(nodes: Nodes, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) (RFC 9162 2.1.3.1): the hashes that lead from leaf `index` to the root."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    proof: list[bytes] = []
    start, end = 0, size
    while end - start > 1:  # the RFC's recursion, unrolled from the root down; siblings are collected top first
        k = _split(end - start)
        if index < start + k:
            proof.append(range_hash(nodes, start + k, end))
            end = start + k
        else:
            proof.append(range_hash(nodes, start, start + k))
            start += k
    proof.reverse()
    return proof


def consistency_proof(nodes: Nodes, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) (RFC 9162 2.1.4.1): the hashes that show the tree of `new_size` leaves
    extends the tree of its first `old_size`."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"a tree of {old_size} cannot precede one of {new_size}")
    if old_size in (0, new_size):
        return []
    proof: list[bytes] = []
    start, end, m, whole = 0, new_size, old_size, True
    while True:  # SUBPROOF(m, D[start:end], whole), unrolled; hashes are collected top first
        size = end - start
        if m == size:
            if not whole:
                proof.append(range_hash(nodes, start, end))
            break
        k = _split(size)
        if m <= k:
            proof.append(range_hash(nodes, start + k, end))
            end = start + k
        else:
            proof.append(range_hash(nodes, start, start + k))
            start, m, whole = start + k, m - k, False
    proof.reverse()
    return proof


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that `proof` leads to from the leaf hash `leaf` at `index` of a tree of `size` (RFC 9162
    2.1.3.2); ProofFailed when the proof cannot belong to such a leaf."""
    if not 0 <= index < size:
        raise ProofFailed(f"leaf index {index} is not in a tree of {size}")
    _check_hashes(leaf, *proof)
    fn, sn, hashed = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            raise ProofFailed("the proof is longer than the path from the leaf to the root")
        if fn & 1 or fn == sn:
            hashed = node_hash(sibling, hashed)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            hashed = node_hash(hashed, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofFailed("the proof is shorter than the path from the leaf to the root")
    return hashed


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes) -> None:
    if root_from_inclusion_proof(index, size, leaf, proof) != expected_root:
        raise ProofFailed(f"the proof does not lead from leaf {index} to the root of the tree of {size}")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> None:
    """RFC 9162 2.1.4.2: `proof` shows that the tree of `new_size` leaves with root `new_root` extends the tree
    of `old_size` leaves with root `old_root`; ProofFailed otherwise."""
    if not 0 <= old_size <= new_size:
        raise ProofFailed(f"a tree of {old_size} cannot precede one of {new_size}")
    if old_size == new_size or old_size == 0:
        if proof:
            raise ProofFailed("the proof must be empty between these sizes")
        if old_size == new_size and old_root != new_root:
            raise ProofFailed(f"two different roots for the same size {old_size}")
        return
    if not proof:
        raise ProofFailed("the proof is empty")
    _check_hashes(old_root, new_root, *proof)
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    first = second = path[0]
    for hashed in path[1:]:
        if sn == 0:
            raise ProofFailed("the proof is longer than the trees call for")
        if fn & 1 or fn == sn:
            first, second = node_hash(hashed, first), node_hash(hashed, second)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            second = node_hash(second, hashed)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofFailed("the proof is shorter than the trees call for")
    if first != old_root:
        raise ProofFailed(f"the proof does not lead to the root of the tree of {old_size}")
    if second != new_root:
        raise ProofFailed(f"the proof does not lead to the root of the tree of {new_size}")


def _check_hashes(*hashes: bytes) -> None:
    for hashed in hashes:
        if len(hashed) != HASH_SIZE:
            raise ProofFailed(f"a hash of {len(hashed)} bytes where SHA-256 gives {HASH_SIZE}")
