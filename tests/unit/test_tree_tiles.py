"""The tree kept as tiles (projections/tree.py): grown in batches of any size, its tiles give the nodes, roots and
proofs of the tree built from all leaves at once, up to the third tile level (65,536 leaves and more)."""
from __future__ import annotations

import hashlib
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from jobstore.domain.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    subtree_root,
    verify_consistency,
    verify_inclusion,
)
from jobstore.projections.tree import TILE_WIDTH, Tile, TileKey, edge_tiles, grown, tile_nodes, tiles_needed


def chain_hashes(count: int, seed: int = 0) -> list[bytes]:
    return [hashlib.sha256(f"{seed}-{n}".encode()).digest() for n in range(count)]


def grow_in_batches(hashes: list[bytes], batch_sizes: list[int]) -> dict[TileKey, Tile]:
    tiles: dict[TileKey, Tile] = {}
    size = 0
    sizes = iter(batch_sizes)
    while size < len(hashes):
        batch = hashes[size:size + max(1, next(sizes, 1000))]
        leaves = [(10 + 3 * (size + n), hashed) for n, hashed in enumerate(batch)]  # positions with gaps
        edge = {key: tiles[key] for key in edge_tiles(size)}
        for tile in grown(size, leaves, edge):
            tiles[(tile.level, tile.index)] = tile
        size += len(batch)
    return tiles


def memory_root(hashes: list[bytes]) -> bytes:
    return subtree_root([leaf_hash(h) for h in hashes])


@given(st.integers(1, 700), st.lists(st.integers(1, 300), max_size=20))
@settings(max_examples=40, deadline=None)
def test_tiles_grown_in_any_batches_give_the_tree_of_all_leaves(count: int, batch_sizes: list[int]) -> None:
    hashes = chain_hashes(count)
    tiles = grow_in_batches(hashes, batch_sizes)
    nodes = tile_nodes(tiles)
    for size in {1, count // 2 or 1, count}:
        assert root(nodes, size) == memory_root(hashes[:size])
    level0 = sorted((t for t in tiles.values() if t.level == 0), key=lambda t: t.index)
    assert [p for t in level0 for p in t.positions] == [10 + 3 * n for n in range(count)]


def test_three_tile_levels() -> None:
    count = TILE_WIDTH * TILE_WIDTH + 300
    hashes = chain_hashes(count, seed=1)
    tiles = grow_in_batches(hashes, [random.Random(5).randint(1, 5000) for _ in range(100)])
    assert {(2, 0), (1, 1), (0, 257)} <= set(tiles)
    assert tiles[(2, 0)].width == 1 and tiles[(1, 0)].width == TILE_WIDTH
    nodes = tile_nodes(tiles)
    assert root(nodes, count) == memory_root(hashes)
    assert root(nodes, TILE_WIDTH * TILE_WIDTH) == memory_root(hashes[:TILE_WIDTH * TILE_WIDTH])
    proof = inclusion_proof(nodes, count - 1, count)
    assert len(tiles_needed(lambda n: inclusion_proof(n, count - 1, count))) <= 4
    verify_inclusion(count - 1, count, leaf_hash(hashes[-1]), proof, memory_root(hashes))
    old = 70_000 - 7_777
    verify_consistency(old, count, memory_root(hashes[:old]), memory_root(hashes),
                       consistency_proof(nodes, old, count))
