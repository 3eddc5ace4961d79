"""How the Merkle tree over the log (domain.merkle) is kept: in tiles, as C2SP `tlog-tiles` cuts a tree.

A tile of level T holds, side by side, up to 256 hashes of the tree's nodes at height 8T: a level-0 tile holds
256 leaf hashes, a level-1 tile the roots of 256 consecutive complete subtrees of 256 leaves each, and so on.
Tile i of level T covers leaves [i * 256**(T+1), (i+1) * 256**(T+1)). The last tile of each level is partial
and grows as leaves are appended; a full tile never changes again. Any complete subtree's hash is then a hash
kept in a tile, or the root over a run of up to 256 hashes of one tile: a proof over a million events reads
about six tiles.

Level-0 tiles also keep the log position of each leaf: positions are the log's own and may have gaps.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from jobstore.domain.merkle import HASH_SIZE, Nodes, leaf_hash, subtree_root

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
TileKey = tuple[int, int]  # (level, index)


@dataclass(frozen=True)
class Tile:
    level: int
    index: int
    hashes: bytes  # 32 bytes per entry
    positions: tuple[int, ...] = ()  # level 0: each leaf's log position

    @property
    def width(self) -> int:
        return len(self.hashes) // HASH_SIZE

    def entry(self, offset: int) -> bytes:
        return self.hashes[offset * HASH_SIZE:(offset + 1) * HASH_SIZE]

    def entries(self, start: int, count: int) -> list[bytes]:
        return [self.entry(offset) for offset in range(start, start + count)]


def entries_at(level: int, size: int) -> int:
    """How many hashes a tree of `size` leaves keeps at tile level `level`."""
    return size >> (TILE_HEIGHT * level)


def edge_tiles(size: int) -> list[TileKey]:
    """The partial tile of each level of a tree of `size` leaves: the tiles that appending leaves extends."""
    keys = []
    level = 0
    while entries_at(level, size):
        index, offset = divmod(entries_at(level, size), TILE_WIDTH)
        if offset:
            keys.append((level, index))
        level += 1
    return keys


def grown(size: int, leaves: Sequence[tuple[int, bytes]], edge: Mapping[TileKey, Tile]) -> list[Tile]:
    """The tiles that change when `leaves` ((position, chain hash) each) are appended to a tree of `size`
    leaves, given its partial tiles `edge` (edge_tiles(size))."""
    changed: list[Tile] = []
    entries = list(map(leaf_hash, (hashed for _, hashed in leaves)))
    positions = [position for position, _ in leaves]
    level, count = 0, size
    while entries:
        index, offset = divmod(count, TILE_WIDTH)
        tile = edge.get((level, index)) if offset else None
        if offset and (tile is None or tile.width != offset):
            raise ValueError(f"tile {level}/{index} should hold {offset} hashes for a tree of {size}")
        # Bytes side by side, split into hashes only where a tile is full: a live batch of a few leaves then costs
        # a few concatenations, not one object per hash of the partial tile.
        row = (tile.hashes if tile else b"") + b"".join(entries)
        row_positions = (tile.positions if tile else ()) + tuple(positions)
        above: list[bytes] = []
        tile_bytes = TILE_WIDTH * HASH_SIZE
        for start in range(0, len(row), tile_bytes):
            run = row[start:start + tile_bytes]
            first = start // HASH_SIZE
            changed.append(Tile(level, index + start // tile_bytes, run, row_positions[first:first + TILE_WIDTH]))
            if len(run) == tile_bytes:
                above.append(subtree_root([run[i:i + HASH_SIZE] for i in range(0, tile_bytes, HASH_SIZE)]))
        entries, positions, level, count = above, [], level + 1, count >> TILE_HEIGHT
    return changed


def node_place(level: int, index: int) -> tuple[TileKey, int, int]:
    """Where the complete subtree (level, index) sits: its tile, and the run of entries its root is made of."""
    tile_level, height = divmod(level, TILE_HEIGHT)
    first = index << height
    return (tile_level, first >> TILE_HEIGHT), first % TILE_WIDTH, 1 << height


def tile_nodes(tiles: Mapping[TileKey, Tile]) -> Nodes:
    """Complete subtrees' hashes from the tiles that hold them."""
    def node(level: int, index: int) -> bytes:
        key, start, count = node_place(level, index)
        tile = tiles.get(key)
        if tile is None or tile.width < start + count:
            raise LookupError(f"tile {key[0]}/{key[1]} does not hold node {level}/{index}")
        return subtree_root(tile.entries(start, count))
    return node


def tiles_needed(work: Callable[[Nodes], object]) -> set[TileKey]:
    """The tiles `work` reads nodes from: found by running it once on stand-in hashes, since which nodes a
    proof or a root needs depends on the sizes alone, never on the hashes."""
    keys: set[TileKey] = set()

    def record(level: int, index: int) -> bytes:
        keys.add(node_place(level, index)[0])
        return bytes(HASH_SIZE)

    work(record)
    return keys
