"""The attacks a checkpoint exists for, by whoever holds the database (a superuser on PostgreSQL, someone editing
the SQLite file): rewrite an event and recompute its job's chain, drop a job's last events, drop a whole job,
and make the views agree. Per-job verification then passes; checking the log against a checkpoint saved before
fails and names the first bad position. Appending is not an attack: the log extends its checkpoints."""
from __future__ import annotations

from pathlib import Path

import pytest

from jobstore.adapters import operations
from jobstore.adapters.checkpoints import CheckpointUnreadable, SavedCheckpoint, read_checkpoint
from jobstore.adapters.operations import rebuild
from jobstore.adapters.runtime import Services
from jobstore.adapters.transparency import SigningKeyProblem
from jobstore.domain.chain import event_hash
from jobstore.domain.checkpoint import Checkpoint, Signer
from jobstore.domain.enums import JobView
from jobstore.projections.engine import ProjectionEngine
from tests.integration.test_audit_integrity import RawStore, make_job


@pytest.fixture
def raw(services: Services) -> RawStore:
    return RawStore(services.settings)


@pytest.fixture(autouse=True)
def no_grace_before_dropping_old_view_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(operations, "DROP_GRACE_SECONDS", 0)  # no reader is left to finish with them here


def saved_checkpoint(services: Services, tmp_path: Path) -> SavedCheckpoint:
    path = tmp_path / f"checkpoint-{services.tree.state().size}.txt"
    path.write_text(services.transparency.checkpoint(), encoding="utf-8")
    return read_checkpoint(path, services.transparency.verifier)


def unguarded(raw: RawStore) -> None:
    """The append-only guard taken away, as the database's owner can."""
    if raw.settings.database_url is None:
        raw.execute("DROP TRIGGER IF EXISTS stored_events_refuse_update")
        raw.execute("DROP TRIGGER IF EXISTS stored_events_refuse_delete")
    else:
        raw.execute("ALTER TABLE jobstore_events DISABLE TRIGGER USER")


def replace_in_event(raw: RawStore, job_id: str, version: int, old: str, new: str) -> None:
    if raw.settings.database_url is None:
        raw.execute("UPDATE stored_events SET state = CAST(replace(CAST(state AS TEXT), ?, ?) AS BLOB) "
                    "WHERE originator_id = ? AND originator_version = ?", old, new, raw.stream(job_id), version)
    else:
        raw.execute("UPDATE jobstore_events SET state = convert_to(replace(convert_from(state, 'UTF8'), ?, ?), "
                    "'UTF8') WHERE originator_id = ? AND originator_version = ?", old, new, raw.stream(job_id),
                    version)


def rewrite_and_rechain(services: Services, raw: RawStore, job_id: str, version: int, old: str, new: str) -> None:
    unguarded(raw)
    replace_in_event(raw, job_id, version, old, new)
    prev = None
    for recorded in services.audit.history(job_id):
        event = recorded.event
        if event.originator_version < version:
            prev = event.hash
            continue
        record = event.canonical()
        record["prevHash"] = prev or record["prevHash"]
        new_hash = event_hash(record)
        replace_in_event(raw, job_id, event.originator_version, event.prev_hash, record["prevHash"])
        replace_in_event(raw, job_id, event.originator_version, event.hash, new_hash)
        prev = new_hash


def drop_events(raw: RawStore, job_id: str, after_version: int) -> None:
    unguarded(raw)
    raw.execute(f"DELETE FROM {raw.events} WHERE originator_id = ? AND originator_version > ?",
                raw.stream(job_id), after_version)


def views_made_to_agree(services: Services) -> None:
    for view in (JobView.BASIC, JobView.FULL):
        rebuild(services, view)


def position_of(services: Services, job_id: str, version: int) -> int:
    return next(r.position for r in services.audit.history(job_id) if r.event.originator_version == version)


@pytest.fixture
def history(services: Services, tmp_path: Path) -> tuple[list[str], SavedCheckpoint]:
    """Three jobs, a checkpoint saved, then two jobs more (the log extends the checkpoint)."""
    jobs = [make_job(services) for _ in range(3)]
    saved = saved_checkpoint(services, tmp_path)
    jobs += [make_job(services) for _ in range(2)]
    assert services.audit.verify_checkpoints([saved]) == []
    return jobs, saved


def test_an_event_rewritten_with_its_chain_recomputed_is_named(services: Services, raw: RawStore,
                                                               history: tuple[list[str], SavedCheckpoint]) -> None:
    jobs, saved = history
    bad = position_of(services, jobs[1], 2)
    rewrite_and_rechain(services, raw, jobs[1], 2, "agent-1", "agent-9")
    views_made_to_agree(services)
    assert services.audit.verify() == []  # the chains recompute and the views equal the log
    [problem] = services.audit.verify_checkpoints([saved])
    assert f"the first bad position is {bad}: the event there is not the one checkpointed" in problem


def test_a_jobs_last_events_dropped_are_named(services: Services, raw: RawStore,
                                             history: tuple[list[str], SavedCheckpoint]) -> None:
    jobs, saved = history
    bad = position_of(services, jobs[0], 2)
    drop_events(raw, jobs[0], 1)
    views_made_to_agree(services)
    assert services.audit.verify() == []
    [problem] = services.audit.verify_checkpoints([saved])
    assert f"the first bad position is {bad}:" in problem


def test_a_whole_job_dropped_is_named(services: Services, raw: RawStore,
                                      history: tuple[list[str], SavedCheckpoint]) -> None:
    jobs, saved = history
    bad = position_of(services, jobs[2], 1)
    drop_events(raw, jobs[2], 0)
    views_made_to_agree(services)
    assert services.audit.verify() == []
    [problem] = services.audit.verify_checkpoints([saved])
    assert f"the first bad position is {bad}:" in problem


def test_two_events_of_different_jobs_swapped_in_the_log_are_named(services: Services, raw: RawStore,
                                                                   history: tuple[list[str], SavedCheckpoint]
                                                                   ) -> None:
    jobs, saved = history
    first, second = position_of(services, jobs[0], 3), position_of(services, jobs[1], 1)
    unguarded(raw)
    column = "rowid" if raw.settings.database_url is None else "notification_id"
    for old, new in ((first, -1), (second, first), (-1, second)):  # each job's chain keeps its order
        raw.execute(f"UPDATE {raw.events} SET {column} = ? WHERE {column} = ?", new, old)
    views_made_to_agree(services)
    assert services.audit.verify() == []
    [problem] = services.audit.verify_checkpoints([saved])
    assert f"the first bad position is {first}: the event there is not the one checkpointed" in problem


def test_a_tree_rebuilt_over_the_altered_log_still_fails_the_checkpoint(services: Services, raw: RawStore,
                                                                        history: tuple[list[str], SavedCheckpoint]
                                                                        ) -> None:
    jobs, saved = history
    drop_events(raw, jobs[2], 0)
    raw.execute("DELETE FROM log_tree_tiles")
    raw.execute("UPDATE log_tree SET size = 0, position = 0")
    rebuilding = ProjectionEngine(services.event_log, services.views, tree=services.tree)  # a worker started anew
    rebuilding.catch_up()
    rebuilding.close()
    assert services.tree.state().size == len(services.audit.feed(0, 10**6)[0])
    views_made_to_agree(services)
    assert services.audit.verify() == []
    [problem] = services.audit.verify_checkpoints([saved])
    assert "does not agree with the checkpoint either" in problem


def test_an_event_that_no_longer_decodes_is_named_not_a_crash(services: Services, raw: RawStore,
                                                              history: tuple[list[str], SavedCheckpoint]) -> None:
    jobs, saved = history
    bad = position_of(services, jobs[1], 2)
    unguarded(raw)
    replace_in_event(raw, jobs[1], 2, '"data"', '"data" broken')
    problems = services.audit.verify_checkpoints([saved])
    assert problems[0].startswith(f"position {bad}: the stored event cannot be decoded")
    assert f"the first bad position is {bad}" in problems[1]


def test_verify_without_a_public_key_uses_the_key_the_store_recorded(services: Services) -> None:
    with pytest.raises(SigningKeyProblem, match="--public-key"):
        services.transparency.recorded_verifier()  # nothing signed yet: no key made just for reading
    assert not services.settings.signing_key_path.exists()
    make_job(services)
    services.transparency.checkpoint()
    assert services.transparency.recorded_verifier() == services.transparency.verifier


def test_a_checkpoint_signed_by_another_key_is_refused(services: Services, tmp_path: Path) -> None:
    make_job(services)
    state = services.tree.state()
    forger = Signer.generate(services.transparency.signer.name)  # the same name, another key
    forged = tmp_path / "forged.txt"
    forged.write_text(forger.sign(Checkpoint(forger.name, state.size, b"\0" * 32).text()), encoding="utf-8")
    with pytest.raises(CheckpointUnreadable, match="no signature by key"):
        read_checkpoint(forged, services.transparency.verifier)
