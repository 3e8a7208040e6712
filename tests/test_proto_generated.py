"""The committed code generated from `proto/` is exactly what `scripts/gen_proto.py` makes now.

Editing a `.proto` file without regenerating (or hand-editing the generated
code) fails here, naming the stale file and the command that fixes it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def generate(repo: Path, out: Path) -> None:
    subprocess.run(
        [sys.executable, str(repo / "scripts" / "gen_proto.py"), "--out", str(out)],
        cwd=repo,
        check=True,
        capture_output=True,
        timeout=120,
    )


def generated_files(root: Path, proto_root: Path) -> set[str]:
    """Paths (relative to `root`) of the generated code for every .proto under `proto_root`."""
    files = set()
    for proto in proto_root.rglob("*.proto"):
        stem = proto.relative_to(proto_root).with_suffix("").as_posix()
        files |= {stem + suffix for suffix in GENERATED_SUFFIXES}
    return files


def stale_files(repo: Path, fresh: Path) -> list[str]:
    """What differs between the committed generated code in `repo` and a fresh run in `fresh`."""
    problems = []
    expected = generated_files(repo, repo / "proto")
    made = {p.relative_to(fresh).as_posix() for p in fresh.rglob("*") if p.is_file()}
    assert made == expected, f"gen_proto.py wrote {sorted(made)}, expected {sorted(expected)}"
    for name in sorted(expected):
        committed = repo / name
        if not committed.is_file():
            problems.append(f"{name} is missing")
        elif committed.read_bytes() != (fresh / name).read_bytes():
            problems.append(f"{name} is stale")
    # Generated files whose .proto is gone are stale too.
    for suffix in GENERATED_SUFFIXES:
        for path in (repo / "ledger").rglob(f"*{suffix}"):
            name = path.relative_to(repo).as_posix()
            if name not in expected:
                problems.append(f"{name} has no .proto any more")
    return problems


def message(problems: list[str]) -> str:
    return (
        "the generated protobuf code does not match proto/: "
        + "; ".join(problems)
        + ". Regenerate it with `.venv/bin/python scripts/gen_proto.py` and commit the result."
    )


def test_the_committed_generated_code_is_up_to_date(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    generate(REPO, out)
    problems = stale_files(REPO, out)
    assert not problems, message(problems)


@pytest.fixture
def scratch_repo(tmp_path: Path) -> Path:
    """A copy of what the check needs: proto/, scripts/gen_proto.py and ledger/v1/."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "proto", repo / "proto")
    (repo / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "scripts" / "gen_proto.py", repo / "scripts" / "gen_proto.py")
    shutil.copytree(
        REPO / "ledger" / "v1", repo / "ledger" / "v1", ignore=shutil.ignore_patterns("__pycache__")
    )
    return repo


def test_the_check_passes_on_an_untouched_copy(scratch_repo: Path, tmp_path: Path) -> None:
    generate(scratch_repo, tmp_path / "fresh")
    assert stale_files(scratch_repo, tmp_path / "fresh") == []


def test_the_check_names_the_stale_files_when_a_proto_is_edited(
    scratch_repo: Path, tmp_path: Path
) -> None:
    proto = scratch_repo / "proto" / "ledger" / "v1" / "ledger.proto"
    text = proto.read_text()
    assert "  uint64 limit = 6;\n" in text
    proto.write_text(
        text.replace("  uint64 limit = 6;\n", "  uint64 limit = 6;\n  bool reverse = 7;\n")
    )
    generate(scratch_repo, tmp_path / "fresh")
    problems = stale_files(scratch_repo, tmp_path / "fresh")
    assert problems == ["ledger/v1/ledger_pb2.py is stale", "ledger/v1/ledger_pb2.pyi is stale"]
    assert "ledger/v1/ledger_pb2.py is stale" in message(problems)


def test_the_check_notices_a_hand_edit_and_a_missing_file(
    scratch_repo: Path, tmp_path: Path
) -> None:
    grpc_stub = scratch_repo / "ledger" / "v1" / "ledger_pb2_grpc.py"
    grpc_stub.write_text(grpc_stub.read_text() + "\n# edited by hand\n")
    (scratch_repo / "ledger" / "v1" / "ledger_pb2.pyi").unlink()
    generate(scratch_repo, tmp_path / "fresh")
    assert stale_files(scratch_repo, tmp_path / "fresh") == [
        "ledger/v1/ledger_pb2.pyi is missing",
        "ledger/v1/ledger_pb2_grpc.py is stale",
    ]
