"""Generate the Python modules of the .proto files in protos/ (committed beside them):
`python -m jobstore.adapters.grpc.generate` from the repository, with grpcio-tools installed (the test extra
pins the version the committed modules came from; tests/unit/test_generated_protos.py fails when they differ).

The folder is mapped to its package path, so that the modules import each other as jobstore.adapters.grpc.protos
rather than as top-level names."""
from __future__ import annotations

import sys
import tempfile
from importlib import resources
from pathlib import Path

PROTOS = Path(__file__).parent / "protos"
PACKAGE_PATH = "jobstore/adapters/grpc/protos"
SOURCES = ("rime_jobs.proto", "jobstore_v1.proto")


def generate(out: Path) -> list[Path]:
    """Write the modules of every proto to `out` (a folder), and return their paths."""
    from grpc_tools import protoc

    well_known = resources.files("grpc_tools") / "_proto"
    with resources.as_file(well_known) as include, tempfile.TemporaryDirectory() as staged:
        staging = Path(staged)
        arguments = ["grpc_tools.protoc", f"-I{PACKAGE_PATH}={PROTOS}", f"-I{include}",
                     f"--python_out={staging}", f"--pyi_out={staging}", f"--grpc_python_out={staging}",
                     *(f"{PACKAGE_PATH}/{source}" for source in SOURCES)]
        if protoc.main(arguments) != 0:
            raise RuntimeError("protoc failed: " + " ".join(arguments))
        written = []
        out.mkdir(parents=True, exist_ok=True)
        for module in sorted((staging / PACKAGE_PATH).iterdir()):
            target = out / module.name
            target.write_bytes(module.read_bytes())
            written.append(target)
        return written


if __name__ == "__main__":
    for path in generate(Path(sys.argv[1]) if len(sys.argv) > 1 else PROTOS):
        print(path)
