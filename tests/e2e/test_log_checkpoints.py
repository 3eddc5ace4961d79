"""The log's signed checkpoints and proofs against a real `jobstore serve`, and the auditor's check of an export
with nothing but the export, a saved checkpoint and the public key (the acceptance of issue 15)."""
from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

from jobstore.domain.checkpoint import Checkpoint, Verifier, open_note
from jobstore.domain.merkle import leaf_hash, verify_consistency, verify_inclusion
from tests.conftest import unique
from tests.e2e.conftest import Keys
from tests.e2e.server import JOBSTORE, Server, ok, upsert

FILE_SCAN = "JOB_TYPE_FILE_SCAN"


def write_jobs(server: Server, keys: Keys, count: int) -> list[str]:
    job_ids = [unique("cp") for _ in range(count)]
    for job_id in job_ids:
        ok(upsert(server, keys.writer, {"jobId": job_id, "jobType": FILE_SCAN}))
        ok(upsert(server, keys.writer, {"jobId": job_id, "status": "JOB_STATUS_PENDING"}, {"status": True}))
    return job_ids


def public_key(server: Server) -> str:
    done = server.cli("audit", "public-key")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def all_events(server: Server, keys: Keys) -> list[dict[str, Any]]:
    events, after = [], 0
    while True:
        page = ok(server.call("GET", f"/v1/events?afterPosition={after}&limit=1000", key=keys.auditor)).body
        events += page["events"]
        if not page["events"]:
            return events
        after = page["nextPosition"]


def current_checkpoint(server: Server, keys: Keys) -> tuple[str, Checkpoint]:
    """The signed checkpoint once the tree holds every event written so far."""
    head = len(all_events(server, keys))
    reply = server.eventually("/v1/log/checkpoint", keys.auditor,
                              lambda r: r.status == 200 and int(r.body.split("\n")[1]) >= head)
    note = ok(reply).body
    assert reply.headers["content-type"].startswith("text/plain")
    return note, Checkpoint.parse(open_note(note, Verifier.parse(public_key(server))))


def b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def test_the_checkpoint_is_signed_and_every_event_is_proved_in_it(server: Server, keys: Keys) -> None:
    write_jobs(server, keys, 3)
    _, older = current_checkpoint(server, keys)
    write_jobs(server, keys, 2)
    _, checkpoint = current_checkpoint(server, keys)
    verifier = Verifier.parse(public_key(server))
    assert checkpoint.origin == verifier.name
    events = all_events(server, keys)
    assert checkpoint.size == len(events)
    for index, event in enumerate(events):
        proof = ok(server.call("GET", f"/v1/log/proof/inclusion?position={event['position']}&treeSize="
                                      f"{checkpoint.size}", key=keys.auditor)).body
        assert proof["leafIndex"] == index and proof["treeSize"] == checkpoint.size
        leaf = leaf_hash(bytes.fromhex(event["hash"]))  # the leaf is the event's chain hash
        assert b64(proof["leafHash"]) == leaf
        verify_inclusion(index, checkpoint.size, leaf, [b64(h) for h in proof["hashes"]], checkpoint.root)
    proof = ok(server.call("GET", f"/v1/log/proof/consistency?from={older.size}&to={checkpoint.size}",
                           key=keys.auditor)).body
    assert (proof["from"], proof["to"]) == (older.size, checkpoint.size)
    verify_consistency(older.size, checkpoint.size, older.root, checkpoint.root, [b64(h) for h in proof["hashes"]])


def test_bad_proof_requests_get_errors_that_name_the_field(server: Server, keys: Keys) -> None:
    write_jobs(server, keys, 1)
    _, checkpoint = current_checkpoint(server, keys)
    cases = [("/v1/log/proof/inclusion?position=0", 400, 3, "position"),
             ("/v1/log/proof/inclusion?position=abc", 400, 3, "position"),
             ("/v1/log/proof/inclusion", 400, 3, "position"),
             (f"/v1/log/proof/inclusion?position=1&treeSize={checkpoint.size + 1000}", 400, 11, "fewer than"),
             ("/v1/log/proof/inclusion?position=999999999", 404, 5, "position 999999999"),
             (f"/v1/log/proof/consistency?from={checkpoint.size}&to=1", 400, 3, "from") if checkpoint.size > 1
             else ("/v1/log/proof/consistency?from=0", 400, 3, "from"),
             ("/v1/log/proof/consistency", 400, 3, "from")]
    for path, status, code, named in cases:
        reply = server.call("GET", path, key=keys.auditor)
        assert (reply.status, reply.body["code"]) == (status, code), (path, reply.body)
        assert named in reply.body["message"], (path, reply.body)
    for path in ("/v1/log/checkpoint", "/v1/log/proof/inclusion?position=1", "/v1/log/proof/consistency?from=1"):
        assert server.call("GET", path, key=keys.reader).status == 403
        assert server.call("GET", path).status == 401


def auditor_verifies(workdir: Path, export: Path, checkpoint: Path, key: str) -> subprocess.CompletedProcess[str]:
    """The documented command, run where no store is: no JOBSTORE_ setting, an empty directory."""
    return subprocess.run([JOBSTORE, "audit", "verify-export", str(export), "--checkpoint", str(checkpoint),
                           "--public-key", key], capture_output=True, text=True, cwd=workdir, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})


def test_an_auditor_with_only_an_export_a_checkpoint_and_the_key_verifies_the_log(server: Server, keys: Keys,
                                                                                  tmp_path: Path) -> None:
    write_jobs(server, keys, 4)
    current_checkpoint(server, keys)
    saved, export = tmp_path / "checkpoint.txt", tmp_path / "log.jsonl"
    done = server.cli("audit", "checkpoint", "--out", str(saved))
    assert done.returncode == 0, done.stderr
    key = public_key(server)
    write_jobs(server, keys, 1)  # the log goes on after the checkpoint was saved
    current_checkpoint(server, keys)
    assert server.cli("audit", "export", "--out", str(export)).returncode == 0
    auditor = tmp_path / "auditor"
    auditor.mkdir()
    good = auditor_verifies(auditor, export, saved, key)
    assert good.returncode == 0, good.stdout + good.stderr
    assert list(auditor.iterdir()) == []  # no store was opened or made

    lines = export.read_text().splitlines()
    size = int(saved.read_text().split("\n")[1])
    victim = json.loads(lines[size // 2])
    tampered = tmp_path / "tampered.jsonl"
    changed = dict(victim, data={**victim["data"], "status": "JOB_STATUS_SUCCEEDED"})
    tampered.write_text("\n".join([*lines[:size // 2], json.dumps(changed), *lines[size // 2 + 1:]]) + "\n")
    bad = auditor_verifies(auditor, tampered, saved, key)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"position {victim['position']}:" in bad.stdout.splitlines()[0]
    assert "does not extend this checkpoint" in bad.stdout

    truncated = tmp_path / "truncated.jsonl"
    truncated.write_text("\n".join(lines[:size - 1]) + "\n")
    cut = auditor_verifies(auditor, truncated, saved, key)
    assert cut.returncode == 1 and "events were removed" in cut.stdout, cut.stdout + cut.stderr

    other_key = Verifier.parse(key).name + "+00000000+" + base64.b64encode(b"\x01" + bytes(32)).decode()
    refused = auditor_verifies(auditor, export, saved, other_key)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr


def test_verify_with_a_saved_checkpoint_passes_on_a_log_that_grew(server: Server, keys: Keys, tmp_path: Path) -> None:
    write_jobs(server, keys, 2)
    current_checkpoint(server, keys)
    saved = tmp_path / "checkpoint.txt"
    assert server.cli("audit", "checkpoint", "--out", str(saved)).returncode == 0
    write_jobs(server, keys, 2)
    current_checkpoint(server, keys)
    for key in (("--public-key", public_key(server)), ()):  # without one: the key the store recorded
        done = server.cli("audit", "verify", "--checkpoint", str(saved), *key)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "extends 1 saved checkpoint" in done.stdout
