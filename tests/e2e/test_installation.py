"""jobstore installs as one package, `jobstore`: beside a distribution that owns the top-level names `adapters`,
`domain` and `projections` (as PyPI's `adapters` owns `adapters`), both work, and uninstalling either leaves
the other intact."""
from __future__ import annotations

import base64
import hashlib
import site
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.e2e.server import Server

ROOT = Path(__file__).resolve().parents[2]
OTHER = "other-adapters"
OTHER_PACKAGES = ("adapters", "domain", "projections")


def other_wheel(folder: Path) -> Path:
    """A wheel of a distribution whose top-level packages are named as jobstore's folders are."""
    dist_info = "other_adapters-1.0.dist-info"
    files = {f"{name}/__init__.py": f"OWNER = {OTHER!r}\n".encode() for name in OTHER_PACKAGES}
    files[f"{dist_info}/METADATA"] = b"Metadata-Version: 2.1\nName: other-adapters\nVersion: 1.0\n"
    files[f"{dist_info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = [f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()}"
              f",{len(data)}" for path, data in files.items()]
    files[f"{dist_info}/RECORD"] = ("\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n").encode()
    wheel = folder / "other_adapters-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def run(*args: str | Path, cwd: Path = Path("/")) -> subprocess.CompletedProcess[str]:
    """Run a command away from this checkout, whose folders would shadow installed packages of their names."""
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=300)
    assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
    return done


def test_jobstore_and_a_distribution_owning_adapters_domain_and_projections_live_side_by_side(
        tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python, pip = venv / "bin" / "python", (sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"))
    own_site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").stdout.strip())
    run(*pip, "wheel", "--no-deps", "-q", "-w", tmp_path, ROOT)
    [jobstore_wheel] = tmp_path.glob("jobstore-*.whl")
    with zipfile.ZipFile(jobstore_wheel) as archive:
        top_level = {name.split("/")[0] for name in archive.namelist()}
    assert top_level == {"jobstore", next(n for n in top_level if n.endswith(".dist-info"))}

    run(*pip, "install", "--no-deps", "-q", other_wheel(tmp_path))
    run(*pip, "install", "--no-deps", "-q", jobstore_wheel)
    other_imports = "import adapters, domain, projections; print(adapters.OWNER, domain.OWNER, projections.OWNER)"
    assert run(python, "-c", other_imports).stdout.split() == [OTHER] * 3
    serve_and_check(venv / "bin" / "jobstore", tmp_path / "home-1", own_site)

    run(*pip, "uninstall", "-y", "-q", OTHER)
    assert not any((own_site / name).exists() for name in OTHER_PACKAGES)
    serve_and_check(venv / "bin" / "jobstore", tmp_path / "home-2", own_site)

    run(*pip, "install", "--no-deps", "-q", other_wheel(tmp_path))
    run(*pip, "uninstall", "-y", "-q", "jobstore")
    left = [p for p in (own_site / "jobstore").rglob("*") if p.is_file()] if (own_site / "jobstore").exists() else []
    assert left == [] and not (venv / "bin" / "jobstore").exists()
    assert run(python, "-c", other_imports).stdout.split() == [OTHER] * 3


def serve_and_check(jobstore: Path, home: Path, own_site: Path) -> None:
    """Serve from the new venv. jobstore's dependencies come from this test run's environment, after the new
    venv's own packages, only meanwhile: pip, seeing them, would take this run's jobstore for the new venv's."""
    dependencies = own_site / "test_environment.pth"
    dependencies.write_text("\n".join(site.getsitepackages()) + "\n")
    server = Server(home, executable=str(jobstore))
    try:
        key = server.key("writer")
        server.start()
        created = server.call("POST", "/v1/jobs:upsert", {"job": {"jobId": "beside-1",
                                                                   "jobType": "JOB_TYPE_IMAGE_BUILDER"}}, key=key)
        assert created.status == 200, created.body
        assert server.call("GET", "/v1/jobs/beside-1", key=key).body["job"]["status"] == "JOB_STATUS_REQUESTED"
    finally:
        server.stop()
        dependencies.unlink()
