"""The `openlineage` export: one OpenLineage 2-0-2 RunEvent per run record, as JSON Lines.

A run record tells what a job consumed and produced and how it ended, which is
what a lineage RunEvent carries: the agent is the job, the files are the
datasets (each with its sha256 in a ledgerd facet) and the run status is the
event type (specs/exports.md §5).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gate.exports._common import PRODUCER_URI, TYPE_URI_BASE, json_lines
from gate.snapshot import CheckpointRef, Json, RunEntry, Snapshot

RUN_EVENT_SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
TAGS_FACET_SCHEMA_URL = (
    "https://openlineage.io/spec/facets/1-0-0/TagsRunFacet.json#/$defs/TagsRunFacet"
)
RUN_FACET = "ledgerd_run"
RUN_FACET_SCHEMA_URL = f"{TYPE_URI_BASE}:openlineage:LedgerdRunFacet:1-0-0#/$defs/LedgerdRunFacet"
FILE_FACET = "ledgerd_file"
FILE_FACET_SCHEMA_URL = (
    f"{TYPE_URI_BASE}:openlineage:LedgerdFileDatasetFacet:1-0-0#/$defs/LedgerdFileDatasetFacet"
)
#: Datasets are workspace files, named by their relative path.
DATASET_NAMESPACE = "file"
TAG_SOURCE = "LEDGERD"

#: A run's status as the OpenLineage event that ends a run.
EVENT_TYPES = {"SUCCESS": "COMPLETE", "PARTIAL": "COMPLETE", "FAILED": "FAIL", "SKIPPED": "ABORT"}


def event_type_of(run_status: str) -> str:
    """The `eventType` of a run status (SUCCESS/PARTIAL COMPLETE, FAILED FAIL, SKIPPED ABORT)."""
    return EVENT_TYPES[run_status]


def render_openlineage(snapshot: Snapshot) -> bytes:
    """One RunEvent per run of `snapshot`, in log order, one per line."""
    return json_lines(run_event(run, snapshot.checkpoint) for run in snapshot.runs)


def run_event(run: RunEntry, checkpoint: CheckpointRef) -> Json:
    """The RunEvent of one run record, as recorded in the log at `checkpoint`."""
    record = run.record
    return {
        "eventType": event_type_of(record["run_status"]),
        "eventTime": record["ended_at"],
        "run": {
            "runId": run.run_id,
            "facets": {RUN_FACET: _run_facet(run, checkpoint), "tags": _tags_facet(record)},
        },
        "job": {"namespace": run.producer, "name": record["agent_name"]},
        "inputs": [_dataset(item) for item in record["input_files"]],
        "outputs": [_dataset(item) for item in record["output_files"]],
        "producer": PRODUCER_URI,
        "schemaURL": RUN_EVENT_SCHEMA_URL,
    }


def _run_facet(run: RunEntry, checkpoint: CheckpointRef) -> Json:
    record = run.record
    return {
        "_producer": PRODUCER_URI,
        "_schemaURL": RUN_FACET_SCHEMA_URL,
        "seq": run.seq,
        "eventId": run.event_id,
        "recordedAt": run.recorded_at,
        "agentName": record["agent_name"],
        "runStatus": record["run_status"],
        "statusBefore": record["status_before"],
        "statusAfter": record["status_after"],
        "startedAt": record["started_at"],
        "endedAt": record["ended_at"],
        "exitCode": record["exit_code"],
        "mode": record["mode"],
        "bestEffort": record["best_effort"],
        "healReason": record["heal_reason"],
        "gitHead": record["git_head"],
        "configFingerprint": record["config_fingerprint"],
        "inputContextSha": record["input_context_sha"],
        "inputRefs": list(record["input_refs"]),
        "outputRefs": list(record["output_refs"]),
        "notes": record["notes"],
        "checkpoint": {
            "origin": checkpoint.origin,
            "treeSize": checkpoint.tree_size,
            "rootHash": checkpoint.root_hash,
        },
    }


def _tags_facet(record: Mapping[str, Any]) -> Json:
    tags = [
        ("ledgerd.agent", record["agent_name"]),
        ("ledgerd.run_status", record["run_status"]),
        ("ledgerd.mode", record["mode"]),
    ]
    if record["heal_reason"] is not None:
        tags.append(("ledgerd.heal_reason", record["heal_reason"]))
    # Newer run records may name the subject they worked on; older ones do not.
    if record.get("subject"):
        tags.append(("ledgerd.subject", record["subject"]))
    return {
        "_producer": PRODUCER_URI,
        "_schemaURL": TAGS_FACET_SCHEMA_URL,
        "tags": [{"key": key, "value": value, "source": TAG_SOURCE} for key, value in tags],
    }


def _dataset(item: Mapping[str, Any]) -> Json:
    return {
        "namespace": DATASET_NAMESPACE,
        "name": item["path"],
        "facets": {
            FILE_FACET: {
                "_producer": PRODUCER_URI,
                "_schemaURL": FILE_FACET_SCHEMA_URL,
                "sha256": item["sha256"],
            }
        },
    }
