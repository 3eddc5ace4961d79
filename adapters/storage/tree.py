"""The Merkle tree's tables (projections/tree.py says how a tree is cut into tiles): `log_tree` holds how many
leaves the tree has and the log position it has consumed; `log_tree_tiles` holds the tiles, level-0 tiles with
their leaves' log positions (8-byte big-endian integers side by side) and the last of them, to find a position's
leaf with one index lookup."""
from __future__ import annotations

import struct
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple, TypeVar

from jobstore.adapters.storage.backend import Backend
from jobstore.adapters.storage.database import Cursor
from jobstore.domain.merkle import Nodes
from jobstore.projections.rows import LoggedEvent
from jobstore.projections.tree import TILE_WIDTH, Tile, TileKey, edge_tiles, grown, tile_nodes, tiles_needed

T = TypeVar("T")
TREE_ROW = "log"  # the one row of log_tree


def tree_tables(backend: Backend) -> tuple[str, ...]:
    return (
        "CREATE TABLE IF NOT EXISTS log_tree (name TEXT PRIMARY KEY, size BIGINT NOT NULL, position BIGINT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS log_tree_tiles (level INTEGER NOT NULL, tile BIGINT NOT NULL, "
        f"hashes {backend.bytes_type} NOT NULL, positions {backend.bytes_type}, last_position BIGINT, "
        "PRIMARY KEY (level, tile))",
        "CREATE INDEX IF NOT EXISTS log_tree_tiles_by_position ON log_tree_tiles (level, last_position)",
        "INSERT INTO log_tree (name, size, position) VALUES ('log', 0, 0) ON CONFLICT (name) DO NOTHING",
    )


class TreeState(NamedTuple):
    size: int  # leaves
    position: int  # the log position it has consumed up to


def _packed(positions: Sequence[int]) -> bytes:
    return struct.pack(f">{len(positions)}q", *positions)


def _unpacked(packed: bytes | None) -> tuple[int, ...]:
    data = bytes(packed or b"")
    return struct.unpack(f">{len(data) // 8}q", data)


def _tile(level: int, index: int, hashes: bytes, positions: bytes | None) -> Tile:
    return Tile(int(level), int(index), bytes(hashes), _unpacked(positions))


class SqlTreeStore:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.db = backend.db
        # The partial tiles of the tree as this process last grew it, by (size, position): the next append
        # starts from them without reading them back; the move of the tree is guarded by both, so an append from
        # a tree that moved meanwhile writes nothing.
        self._edge: tuple[tuple[int, int], dict[TileKey, Tile]] | None = None

    def state(self) -> TreeState:
        with self.db.transaction(write=False) as cursor:
            return self._state(cursor)

    @staticmethod
    def _state(cursor: Cursor) -> TreeState:
        cursor.execute("SELECT size, position FROM log_tree WHERE name = ?", (TREE_ROW,))
        row = cursor.fetchone()
        return TreeState(int(row[0]), int(row[1])) if row else TreeState(0, 0)

    def position(self) -> int:
        """The log position the tree has consumed. The engine asks when it does not know (at least once a
        second): the partial tiles kept from this process's last append are dropped then, should an operator
        have had the tree rebuilt meanwhile."""
        self._edge = None
        return self.state().position

    def append(self, events: Sequence[LoggedEvent], from_position: int, to_position: int) -> bool:
        """Append `events` as leaves and move the tree from `from_position` to `to_position`, in one transaction;
        False, writing nothing, when the tree is no longer at `from_position` (another worker moved it)."""
        with self.db.transaction() as cursor:
            return self.appending(events, from_position, to_position)(cursor)  # False: it wrote nothing

    def appending(self, events: Sequence[LoggedEvent], from_position: int,
                  to_position: int) -> Callable[[Cursor], bool]:
        """The append, for a transaction of someone else's (a view's commit); False when the tree has moved."""
        def append_in(cursor: Cursor) -> bool:
            known = self._edge
            if known is not None and known[0][1] == from_position:  # the tree as this process left it
                size, edge = known[0][0], known[1]
            else:
                state = self._state(cursor)
                if state.position != from_position:
                    return False
                size = state.size
                edge = {(tile.level, tile.index): tile for tile in self._read(cursor, edge_tiles(size))}
            leaves = [(event.position, bytes.fromhex(event.chain_hash)) for event in events]
            changed = grown(size, leaves, edge)
            rows = [(t.level, t.index, t.hashes, _packed(t.positions) if t.level == 0 else None,
                     t.positions[-1] if t.level == 0 else None) for t in changed]
            if not self.backend.grow_tree(cursor, size, len(events), from_position, to_position, rows):
                self._edge = None
                return False
            grown_to = {**edge, **{(t.level, t.index): t for t in changed}}
            new_edge = {key: grown_to[key] for key in edge_tiles(size + len(events)) if key in grown_to}
            # Kept even if the transaction then rolls back: the tree stays at `size`, and the key no longer fits.
            self._edge = ((size + len(events), to_position), new_edge)
            return True
        return append_in

    def _read(self, cursor: Cursor, keys: Iterable[TileKey]) -> list[Tile]:
        wanted = sorted(set(keys))
        if not wanted:
            return []
        where = " OR ".join("(level = ? AND tile = ?)" for _ in wanted)
        cursor.execute(f"SELECT level, tile, hashes, positions FROM log_tree_tiles WHERE {where}",
                       [value for key in wanted for value in key])
        return [_tile(*row) for row in cursor.fetchall()]

    def computed(self, work: Callable[[Nodes], T]) -> T:
        """`work` (a root, a proof) done over the tiles it needs, read in one query."""
        with self.db.transaction(write=False, binary=True) as cursor:
            tiles = {(tile.level, tile.index): tile for tile in self._read(cursor, tiles_needed(work))}
        return work(tile_nodes(tiles))

    def leaf_of(self, position: int) -> int | None:
        """The leaf index of the event at log `position`, if the tree holds it."""
        with self.db.transaction(write=False, binary=True) as cursor:
            cursor.execute("SELECT tile, positions FROM log_tree_tiles WHERE level = 0 AND last_position >= ? "
                           "ORDER BY last_position LIMIT 1", (position,))
            row = cursor.fetchone()
        if row is None:
            return None
        positions = _unpacked(row[1])
        offset = bisect_left(positions, position)
        if offset == len(positions) or positions[offset] != position:
            return None
        return int(row[0]) * TILE_WIDTH + offset

    def recorded_verifier_key(self, name: str) -> str | None:
        with self.db.transaction(write=False) as cursor:
            cursor.execute("SELECT value FROM service_secrets WHERE name = ?", (name,))
            row = cursor.fetchone()
        return None if row is None else str(row[0])

    def record_verifier_key(self, name: str, verifier_key: str) -> str:
        """The verifier key recorded under `name`: `verifier_key` if none was."""
        with self.db.transaction() as cursor:
            cursor.execute("INSERT INTO service_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                           (name, verifier_key))
            cursor.execute("SELECT value FROM service_secrets WHERE name = ?", (name,))
            return str(cursor.fetchone()[0])

    def leaves(self, batch_tiles: int = 64) -> Iterator[tuple[int, bytes]]:
        """Every leaf the tree holds, in order, as (position, leaf hash)."""
        after = -1
        while True:
            with self.db.transaction(write=False, binary=True) as cursor:
                cursor.execute("SELECT level, tile, hashes, positions FROM log_tree_tiles WHERE level = 0 AND "
                               "tile > ? ORDER BY tile LIMIT ?", (after, batch_tiles))
                tiles = [_tile(*row) for row in cursor.fetchall()]
            for tile in tiles:
                yield from zip(tile.positions, tile.entries(0, tile.width), strict=True)
            if len(tiles) < batch_tiles:
                return
            after = tiles[-1].index
