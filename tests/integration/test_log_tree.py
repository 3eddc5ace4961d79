"""The Merkle tree over the log as the projection engine keeps it, on both stores: its root and proofs equal
those of a tree built in memory from the log's chain hashes, whatever the batch sizes, across partial tiles and
tile levels, and each leaf is found by its log position. And the key that signs its checkpoints."""
from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path

import pytest

from jobstore.adapters.runtime import Services, open_services
from jobstore.adapters.settings import Settings
from jobstore.adapters.transparency import SigningKeyProblem, load_or_create_signer
from jobstore.domain.job import Provenance
from jobstore.domain.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)
from jobstore.projections.engine import ProjectionEngine
from tests.conftest import unique, upsert_request
from tests.unit.test_merkle import nodes_over

BY = Provenance("tree-test", "writer", "request-1")


def write_events(services: Services, jobs: int, updates: int = 2) -> None:
    for _ in range(jobs):
        job_id = unique("tree")
        services.jobs.upsert(upsert_request({"jobId": job_id, "jobType": "JOB_TYPE_FILE_SCAN"}), BY)
        for n in range(updates):
            services.jobs.upsert(upsert_request({"jobId": job_id, "archivedJobLogs": {"url": {"url": f"https://logs.example/{n}"}}},
                                                {"archivedJobLogs": True}), BY)


def log_leaves(services: Services) -> list[tuple[int, bytes]]:
    """(position, chain hash) of every event, read from the log itself."""
    return [(e.position, bytes.fromhex(e.event.hash)) for e in services.audit.feed(0, 10**9)[0]]


def test_the_kept_tree_equals_a_tree_built_from_the_log(services: Services) -> None:
    write_events(services, 100)  # 300 events: a full level-0 tile and a partial one
    services.engine.catch_up()
    leaves = log_leaves(services)
    chain_hashes = [hashed for _, hashed in leaves]
    tree = services.tree
    assert tree.state().size == len(leaves) == 300
    assert tree.state().position == leaves[-1][0]
    memory = nodes_over(chain_hashes)
    for size in (1, 2, 255, 256, 257, 300):
        assert tree.computed(lambda nodes, n=size: root(nodes, n)) == root(memory, size)
    for index, size in [(0, 300), (255, 256), (256, 257), (299, 300), (7, 20)]:
        proof = tree.computed(lambda nodes, i=index, n=size: inclusion_proof(nodes, i, n))
        assert proof == inclusion_proof(memory, index, size)
        verify_inclusion(index, size, leaf_hash(chain_hashes[index]), proof, root(memory, size))
    for old, new in [(1, 300), (256, 300), (100, 257), (299, 300)]:
        proof = tree.computed(lambda nodes, m=old, n=new: consistency_proof(nodes, m, n))
        verify_consistency(old, new, root(memory, old), root(memory, new), proof)
    assert list(tree.leaves()) == [(position, leaf_hash(hashed)) for position, hashed in leaves]
    for index in (0, 255, 256, 299):
        assert tree.leaf_of(leaves[index][0]) == index
    assert tree.leaf_of(leaves[-1][0] + 1) is None


@pytest.mark.parametrize("batch_size", [1, 7, 256])
def test_batches_of_any_size_build_the_same_tree(services: Services, batch_size: int) -> None:
    write_events(services, 30)
    engine = ProjectionEngine(services.event_log, services.views, batch_size=batch_size, tree=services.tree)
    try:
        engine.catch_up()
    finally:
        engine.close()
    chain_hashes = [hashed for _, hashed in log_leaves(services)]
    assert services.tree.state().size == 90
    assert services.tree.computed(lambda nodes: root(nodes, 90)) == root(nodes_over(chain_hashes), 90)


def test_a_worker_that_lost_the_race_appends_nothing(services: Services) -> None:
    write_events(services, 3)
    services.engine.catch_up()
    state = services.tree.state()
    events = services.event_log.read(0, 2)
    assert services.tree.append(events, 0, events[-1].position) is False
    assert services.tree.state() == state


def test_a_worker_without_the_full_view_leaves_the_tree_alone(services: Services) -> None:
    from jobstore.domain.enums import JobView
    write_events(services, 3)
    services.engine.catch_up(views=[JobView.BASIC])
    assert services.tree.state().size == 0
    services.engine.catch_up()
    assert services.tree.state().size == 9


def test_a_process_given_another_signing_key_refuses_checkpoints_and_says_why(services: Services,
                                                                            tmp_path: Path) -> None:
    write_events(services, 1)
    services.engine.catch_up()
    first = services.transparency.checkpoint()
    other = open_services(replace(services.settings, log_signing_key=tmp_path / "other.key"))
    try:
        with pytest.raises(SigningKeyProblem, match="same key file"):
            other.transparency.checkpoint()
        assert other.transparency.tree.state() == services.tree.state()  # everything else goes on
    finally:
        other.close()
    assert services.transparency.checkpoint() == first


def test_a_signing_key_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "log-signing.key"
    signer = load_or_create_signer(path, "jobstore.example/log")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_signer(path, "ignored-once-created") == signer
    assert [p.name for p in tmp_path.iterdir()] == ["log-signing.key"]  # written beside it, linked into place
    path.chmod(0o644)
    with pytest.raises(SigningKeyProblem, match="chmod 600"):
        load_or_create_signer(path, None)
    with pytest.raises(SigningKeyProblem, match="JOBSTORE_LOG_SIGNING_KEY"):
        load_or_create_signer(path / "inside-a-file", None)  # its parent is a file


def test_the_tree_rides_in_full_views_commit_and_a_refused_append_refuses_that_commit(services: Services) -> None:
    from jobstore.domain.enums import JobView
    write_events(services, 2)
    services.engine.catch_up()
    write_events(services, 1)
    full_at, tree_at = services.views.position(JobView.FULL), services.tree.position()
    events = list(services.event_log.read(full_at, 100))
    moved_on = services.tree.appending(events, tree_at - 1, events[-1].position)  # the tree is elsewhere now
    assert services.views.commit(JobView.FULL, [], full_at, events[-1].position, moved_on) is False
    assert (services.views.position(JobView.FULL), services.tree.position()) == (full_at, tree_at)
    services.engine.catch_up()
    assert services.tree.state().size == 9 and services.views.position(JobView.FULL) == events[-1].position


@pytest.mark.parametrize("backend", ["postgres"])
def test_tiles_are_stored_uncompressed_also_in_a_store_made_before_and_still_prove(settings: Settings) -> None:
    """Tile hashes do not compress and compressing positions at each rewrite cost the tree's statement half its
    time: both columns are STORAGE EXTERNAL, in new stores and, at the next start, in stores made before."""
    def storage(services: Services) -> dict[str, str]:
        with services.backend.db.transaction(write=False) as cursor:
            cursor.execute("SELECT attname, attstorage FROM pg_attribute WHERE attrelid = to_regclass(?) "
                           "AND attname IN ('hashes', 'positions')", ("log_tree_tiles",))
            return {str(name): str(kind) for name, kind in cursor.fetchall()}

    services = open_services(settings)
    try:
        assert storage(services) == {"hashes": "e", "positions": "e"}
        with services.backend.db.transaction() as cursor:  # as the versions before this one made the table
            for column in ("hashes", "positions"):
                cursor.execute(f"ALTER TABLE log_tree_tiles ALTER COLUMN {column} SET STORAGE EXTENDED")
        write_events(services, 100)
        services.engine.catch_up()
        assert storage(services) == {"hashes": "x", "positions": "x"}
    finally:
        services.close()
    reopened = open_services(settings)
    try:
        assert storage(reopened) == {"hashes": "e", "positions": "e"}
        write_events(reopened, 10)
        reopened.engine.catch_up()
        chain_hashes = [hashed for _, hashed in log_leaves(reopened)]
        assert reopened.tree.state().size == len(chain_hashes) == 330
        assert reopened.tree.computed(lambda nodes: root(nodes, 330)) == root(nodes_over(chain_hashes), 330)
    finally:
        reopened.close()
