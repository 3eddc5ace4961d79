"""The committed gRPC modules are what grpcio-tools makes of the committed .proto files, today: a .proto edited
without regenerating, or a module edited by hand, fails here."""
from __future__ import annotations

from pathlib import Path

from jobstore.adapters.grpc.generate import PROTOS, generate

REGENERATE = "run `python -m jobstore.adapters.grpc.generate` and commit what it writes"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def committed_modules() -> set[str]:
    return {path.name for path in PROTOS.iterdir() if path.name.endswith(GENERATED_SUFFIXES)}


def test_the_committed_modules_are_exactly_what_generation_writes(tmp_path: Path) -> None:
    written = {path.name: path.read_bytes() for path in generate(tmp_path)}
    assert set(written) == committed_modules(), (
        f"generated {sorted(written)}, committed {sorted(committed_modules())}: {REGENERATE}")
    stale = [name for name, content in sorted(written.items()) if (PROTOS / name).read_bytes() != content]
    assert stale == [], f"not what the committed .proto files generate: {', '.join(stale)}; {REGENERATE}"


def test_every_proto_has_its_modules_committed() -> None:
    stems = {path.stem for path in PROTOS.glob("*.proto")}
    expected = {stem + suffix for stem in stems for suffix in GENERATED_SUFFIXES}
    assert committed_modules() == expected, f"committed {sorted(committed_modules())}: {REGENERATE}"
