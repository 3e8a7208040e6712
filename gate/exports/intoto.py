"""The `intoto` export: an in-toto Statement v1 with SLSA provenance v1 per run record.

The statement says which files a run produced (its subjects), from which inputs
and commit (resolved dependencies), by which producer (the builder) and under
which parameters. Statements are unsigned: a signer wraps each in a DSSE
envelope. One run renders one JSON line, several runs JSON Lines in log order
(specs/exports.md §6).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from gate.exports._common import TYPE_URI_BASE, canonical_json, json_lines
from gate.snapshot import CheckpointRef, Json, RunEntry, Snapshot

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
#: The build type of every statement: "a ledgerd run record", documented in specs/exports.md §6.
BUILD_TYPE = f"{TYPE_URI_BASE}:buildtype:run-record:v1"
#: A builder is the producer that recorded the run: `urn:ledgerd:producer:<producer label>`.
BUILDER_URI_PREFIX = f"{TYPE_URI_BASE}:producer:"
#: The name of the descriptor that stands for the run record itself.
RECORD_NAME_PREFIX = "run.recorded/"
GIT_HEAD_NAME = "git_head"


def record_digest(record: Mapping[str, Any]) -> str:
    """The sha256 of a run record's canonical JSON (RFC 8785) encoding, lowercase hex."""
    return hashlib.sha256(canonical_json(dict(record))).hexdigest()


def subjects_of(run: RunEntry) -> list[Json]:
    """The statement's subjects: the run's output files, else the run record itself."""
    outputs = run.record["output_files"]
    if outputs:
        return [{"name": item["path"], "digest": {"sha256": item["sha256"]}} for item in outputs]
    return [_record_descriptor(run)]


def render_intoto(snapshot: Snapshot) -> bytes:
    """One statement per run of `snapshot`, in log order, one per line."""
    return json_lines(statement(run, snapshot.checkpoint) for run in snapshot.runs)


def statement(run: RunEntry, checkpoint: CheckpointRef) -> Json:
    """The in-toto statement of one run record, as recorded in the log at `checkpoint`."""
    record = run.record
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects_of(run),
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "agent_name": record["agent_name"],
                    "mode": record["mode"],
                    "best_effort": record["best_effort"],
                    "status_before": record["status_before"],
                    "input_refs": list(record["input_refs"]),
                },
                "internalParameters": {
                    "config_fingerprint": record["config_fingerprint"],
                    "input_context_sha": record["input_context_sha"],
                },
                "resolvedDependencies": _dependencies(record),
            },
            "runDetails": {
                "builder": {"id": BUILDER_URI_PREFIX + run.producer},
                "metadata": {
                    "invocationId": run.run_id,
                    "startedOn": record["started_at"],
                    "finishedOn": record["ended_at"],
                },
                "byproducts": [_record_byproduct(run, checkpoint)],
            },
        },
    }


def _dependencies(record: Mapping[str, Any]) -> list[Json]:
    dependencies = [
        {"name": item["path"], "digest": {"sha256": item["sha256"]}}
        for item in record["input_files"]
    ]
    if record["git_head"] is not None:
        dependencies.append({"name": GIT_HEAD_NAME, "digest": {"gitCommit": record["git_head"]}})
    return dependencies


def _record_descriptor(run: RunEntry) -> Json:
    return {
        "name": RECORD_NAME_PREFIX + run.run_id,
        "digest": {"sha256": record_digest(run.record)},
    }


def _record_byproduct(run: RunEntry, checkpoint: CheckpointRef) -> Json:
    record = run.record
    return {
        **_record_descriptor(run),
        "mediaType": "application/json",
        "annotations": {
            "seq": run.seq,
            "event_id": run.event_id,
            "recorded_at": run.recorded_at,
            "producer": run.producer,
            "run_status": record["run_status"],
            "status_after": record["status_after"],
            "exit_code": record["exit_code"],
            "heal_reason": record["heal_reason"],
            "output_refs": list(record["output_refs"]),
            "checkpoint": checkpoint.to_json(),
        },
    }
