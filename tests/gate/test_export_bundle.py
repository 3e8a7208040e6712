"""The bundle export, and what every export shares: dispatch, file names, determinism."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from contract_kinds.exports import EDGE_SUBJECT, edge_log
from gate.exports import EXPORT_FORMATS, file_extension, render_export
from gate.exports.bundle import render_bundle
from gate.exports.csv_export import render_csv
from gate.exports.intoto import render_intoto
from gate.exports.openlineage import render_openlineage
from gate.exports.sarif import render_sarif
from gate_snapshots import GATE_RUN, SUBJECT, snapshot_of, story_log
from ledger.errors import ErrorCode, InvalidInput

SCOPES = [("subject", SUBJECT), ("run", GATE_RUN), ("all", None)]


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return story_log(tmp_path_factory.mktemp("story") / "data")


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return edge_log(tmp_path_factory.mktemp("edge") / "data")


@pytest.mark.parametrize(("scope", "ref"), SCOPES)
def test_the_bundle_holds_the_snapshot_as_it_is(story: Path, scope, ref) -> None:
    snapshot = snapshot_of(story, scope, ref)
    data = render_bundle(snapshot)
    document = json.loads(data)
    assert list(document) == [
        "format",
        "version",
        "scope",
        "checkpoint",
        "evaluated_at",
        "verdicts",
        "runs",
    ]
    assert document["format"] == "ledgerd.bundle"
    assert document["version"] == 1
    assert document["scope"] == {"kind": scope, "ref": ref}
    assert document["checkpoint"] == {
        "origin": None,
        "tree_size": snapshot.checkpoint.tree_size,
        "root_hash": snapshot.checkpoint.root_hash,
    }
    assert document["evaluated_at"] == "2026-01-02T00:00:00.000000Z"
    assert document["verdicts"] == list(snapshot.verdicts)
    assert document["runs"] == [run.to_json() for run in snapshot.runs]
    assert data.endswith(b"}\n")
    assert data.startswith(b'{\n  "format"')


def test_bundle_members_keep_the_verdict_document_order(story: Path) -> None:
    snapshot = snapshot_of(story)
    (verdict,) = json.loads(render_bundle(snapshot))["verdicts"]
    assert list(verdict) == list(snapshot.verdicts[0])
    finding = verdict["findings"]["open"][0]
    assert list(finding) == list(snapshot.verdicts[0]["findings"]["open"][0])


def test_the_bundle_writes_non_ascii_text_as_utf8(edge: Path) -> None:
    data = render_bundle(snapshot_of(edge, "subject", EDGE_SUBJECT))
    assert "docs/my file é.md".encode() in data
    assert b"\\u00e9" not in data


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_every_format_gives_the_same_bytes_for_the_same_log(tmp_path: Path, fmt: str) -> None:
    first = snapshot_of(story_log(tmp_path / "one"), "all", None)
    second = snapshot_of(story_log(tmp_path / "two"), "all", None)
    assert render_export(first, fmt) == render_export(second, fmt)
    assert render_export(first, fmt) == render_export(first, fmt)


def test_render_export_picks_the_renderer(story: Path) -> None:
    snapshot = snapshot_of(story, "all", None)
    renderers = {
        "bundle": render_bundle,
        "csv": render_csv,
        "sarif": render_sarif,
        "openlineage": render_openlineage,
        "intoto": render_intoto,
    }
    assert tuple(renderers) == EXPORT_FORMATS
    for fmt, renderer in renderers.items():
        assert render_export(snapshot, fmt) == renderer(snapshot)


def test_an_unknown_format_is_refused(story: Path) -> None:
    snapshot = snapshot_of(story)
    with pytest.raises(InvalidInput) as caught:
        render_export(snapshot, "xml")
    assert caught.value.code == ErrorCode.INVALID_ARGUMENT
    assert caught.value.details["formats"] == list(EXPORT_FORMATS)
    assert "bundle, csv, sarif, openlineage, intoto" in caught.value.hint
    with pytest.raises(InvalidInput):
        file_extension("SARIF", "all")


def test_file_extensions() -> None:
    assert {fmt: file_extension(fmt, "subject") for fmt in EXPORT_FORMATS} == {
        "bundle": ".bundle.json",
        "csv": ".csv",
        "sarif": ".sarif",
        "openlineage": ".openlineage.jsonl",
        "intoto": ".intoto.jsonl",
    }
    assert file_extension("intoto", "run") == ".intoto.json"
    assert file_extension("openlineage", "run") == ".openlineage.jsonl"


def test_a_scope_with_nothing_in_it(story: Path) -> None:
    snapshot = snapshot_of(story, "subject", "github.com/acme/app/pull/404")
    assert snapshot.runs == ()
    bundle = json.loads(render_bundle(snapshot))
    assert bundle["runs"] == []
    assert bundle["verdicts"][0]["known"] is False
    assert render_openlineage(snapshot) == b""
    assert render_intoto(snapshot) == b""
    assert render_csv(snapshot).count(b"\r\n") == 1
    assert json.loads(render_sarif(snapshot))["runs"][0]["results"] == []


def test_the_schema_copies_are_the_ones_the_readme_names() -> None:
    folder = Path(__file__).resolve().parent.parent / "schemas"
    readme = (folder / "README.md").read_text(encoding="utf-8")
    listed = re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, re.MULTILINE)
    assert len(listed) == 4
    for digest, name in listed:
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
