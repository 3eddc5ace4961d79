"""The log's signed checkpoints and proofs (issue 15): the signing key, kept apart from the database, and what the
routes and the CLI answer from the Merkle tree the projection engine keeps (adapters/storage/tree.py).

The key is a file readable only by its owner, `$JOBSTORE_HOME/log-signing.key` unless JOBSTORE_LOG_SIGNING_KEY
names another, holding the signer key in Go's note format; it is created on first use, named by
JOBSTORE_LOG_NAME (default `jobstore/<12 random hex digits>`), and that name is the checkpoints' origin. The
store records the verifier key of the first key that signed for it, and refuses to sign with another: every
process of one store must be given the same key file; a process holding another key serves everything but
checkpoints, which it refuses (FAILED_PRECONDITION) saying so.
"""
from __future__ import annotations

import base64
import os
import stat
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobstore.adapters.errors import NotFound
from jobstore.adapters.storage.tree import SqlTreeStore
from jobstore.domain.checkpoint import Checkpoint, NoteRefused, Signer, Verifier
from jobstore.domain.errors import FailedPrecondition, InvalidArgument, OutOfRange
from jobstore.domain.merkle import consistency_proof, inclusion_proof, root

VERIFIER_SECRET = "log-verifier-key"
LAST_POSITION = 2**63 - 1  # positions are 64-bit integers in the store


class SigningKeyProblem(FailedPrecondition):
    """The signing key cannot be used; the message says why and what to do. Checkpoints are refused meanwhile;
    everything else goes on."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def load_or_create_signer(path: Path, name: str | None) -> Signer:
    try:
        return _load_or_create(path, name)
    except OSError as error:
        raise SigningKeyProblem(f"the log signing key {path} cannot be read or created ({error}); set "
                                "JOBSTORE_LOG_SIGNING_KEY to a file this user owns") from None


def _load_or_create(path: Path, name: str | None) -> Signer:
    if path.exists():
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SigningKeyProblem(f"the log signing key {path} can be read or written by others (mode "
                                    f"{stat.S_IMODE(mode):04o}): run `chmod 600 {path}`")
        try:
            return Signer.parse(path.read_text(encoding="ascii").strip())
        except (NoteRefused, UnicodeDecodeError) as error:
            raise SigningKeyProblem(f"{path} does not hold a log signing key ({error})") from None
    signer = Signer.generate(name or f"jobstore/{uuid.uuid4().hex[:12]}")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole beside it, then linked into place: another process never reads a half-written key, and the
    # first of two processes starting together wins.
    staged = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    descriptor = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as out:
            out.write(f"{signer}\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(staged, path)
        except FileExistsError:
            return _load_or_create(path, name)
    finally:
        staged.unlink(missing_ok=True)
    return signer


@dataclass(frozen=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    hashes: list[bytes]

    def wire(self) -> dict[str, Any]:
        return {"leafIndex": self.leaf_index, "treeSize": self.tree_size, "leafHash": _b64(self.leaf_hash),
                "hashes": [_b64(h) for h in self.hashes]}


@dataclass(frozen=True)
class ConsistencyProof:
    old_size: int
    new_size: int
    hashes: list[bytes]

    def wire(self) -> dict[str, Any]:
        return {"from": self.old_size, "to": self.new_size, "hashes": [_b64(h) for h in self.hashes]}


class TransparencyLog:
    def __init__(self, tree: SqlTreeStore, key_path: Path, name: str | None) -> None:
        self.tree = tree
        self.key_path = key_path
        self.name = name
        self._signer: Signer | None = None
        self._lock = threading.Lock()
        self._last: tuple[int, str] | None = None  # (tree size, signed checkpoint)

    @property
    def signer(self) -> Signer:
        with self._lock:
            if self._signer is None:
                signer = load_or_create_signer(self.key_path, self.name)
                recorded = self.tree.record_verifier_key(VERIFIER_SECRET, str(signer.verifier))
                if recorded != str(signer.verifier):
                    raise SigningKeyProblem(
                        f"this store's checkpoints are signed by {recorded}, but {self.key_path} holds "
                        f"{signer.verifier}: give every jobstore process of this store the same key file "
                        "(JOBSTORE_LOG_SIGNING_KEY)")
                self._signer = signer
            return self._signer

    @property
    def verifier(self) -> Verifier:
        return self.signer.verifier

    def recorded_verifier(self) -> Verifier:
        """The verifier key this store recorded when it first signed, read without touching any key file."""
        recorded = self.tree.recorded_verifier_key(VERIFIER_SECRET)
        if recorded is None:
            raise SigningKeyProblem("this store has signed no checkpoint yet, so it records no verifier key: give "
                                    "the key with --public-key")
        return Verifier.parse(recorded)

    def checkpoint(self) -> str:
        """The signed checkpoint of the tree as it stands."""
        size = self.tree.state().size
        last = self._last
        if last is not None and last[0] == size:
            return last[1]
        tree_root = self.tree.computed(lambda nodes: root(nodes, size))
        signed = self.signer.sign(Checkpoint(self.signer.name, size, tree_root).text())
        self._last = (size, signed)
        return signed

    def inclusion(self, position: int, tree_size: int | None = None) -> InclusionProof:
        """The proof that the event at log `position` is in the tree of `tree_size` leaves (default: the tree
        as it stands)."""
        if position < 1:
            raise InvalidArgument("position", f"must be a log position, 1 or more (got {position})")
        index = self.tree.leaf_of(position) if position <= LAST_POSITION else None
        size = self._size("treeSize", tree_size)  # read after the leaf: a default size then holds it
        if index is None:
            raise NotFound(f"no event at position {position} is in the log's tree (a position with no event, or "
                           "one the tree has not reached yet)")
        if index >= size:
            raise OutOfRange(f"the event at position {position} is leaf {index}, not in a tree of {size}")
        hashes = self.tree.computed(lambda nodes: [nodes(0, index), *inclusion_proof(nodes, index, size)])
        return InclusionProof(index, size, hashes[0], hashes[1:])

    def consistency(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        """The proof that the tree of `new_size` leaves (default: as it stands) extends the tree of `old_size`."""
        if old_size < 1:
            raise InvalidArgument("from", f"must be a tree size, 1 or more (got {old_size})")
        size = self._size("to", new_size)
        if old_size > size:
            raise InvalidArgument("from", f"must not exceed the newer tree's size ({old_size} > {size})")
        return ConsistencyProof(old_size, size, self.tree.computed(lambda nodes: consistency_proof(nodes, old_size,
                                                                                                    size)))

    def _size(self, field: str, wanted: int | None) -> int:
        current = self.tree.state().size
        if wanted is None:
            return current
        if wanted < 1:
            raise InvalidArgument(field, f"must be a tree size, 1 or more (got {wanted})")
        if wanted > current:
            raise OutOfRange(f"the log's tree holds {current} events, fewer than the {wanted} asked for")
        return wanted
