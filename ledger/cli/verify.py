"""`ledgerctl verify`: the offline audit of a data directory."""

from __future__ import annotations

from pathlib import Path

import click

from ledger.audit import audit_log
from ledger.cli._common import data_dir_option, json_option, load_verifier, open_reader
from ledger.cli._output import b64, progress_bar, stdout, write_json
from ledger.errors import ErrorCode, InvalidInput
from ledger.fsutil import read_file


@click.command()
@data_dir_option
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A signed checkpoint the log must match.",
)
@click.option("--vkey", default=None, help="The verifier key, inline or as a file path.")
@json_option
def verify(data_dir: Path, checkpoint_file: Path | None, vkey: str | None, as_json: bool) -> None:
    """Re-hash every leaf and check the chain, the tree and optionally a signed checkpoint."""
    if (checkpoint_file is None) != (vkey is None):
        raise InvalidInput(
            ErrorCode.INVALID_ARGUMENT,
            "--checkpoint and --vkey go together",
            hint="give both to check a signed checkpoint, or neither",
        )
    note = None
    verifier = None
    if checkpoint_file is not None and vkey is not None:
        note = read_file(checkpoint_file, what="checkpoint").decode("utf-8", "replace")
        verifier = load_verifier(vkey)
    with open_reader(data_dir) as log, progress_bar("verifying", enabled=not as_json) as advance:
        report = audit_log(log, checkpoint_note=note, verifier=verifier, progress=advance)
    root = b64(report.root)
    checkpoint = report.checkpoint
    if as_json:
        write_json(
            {
                "ok": True,
                "tree_size": report.size,
                "root": root,
                "checkpoint": None
                if checkpoint is None
                else {
                    "origin": checkpoint.origin,
                    "tree_size": checkpoint.size,
                    "root": b64(checkpoint.root),
                },
            }
        )
        return
    stdout.print(f"ok: {report.size} leaves verified; root {root}")
    if checkpoint is not None:
        stdout.print(
            f"ok: checkpoint by {checkpoint.origin} at size {checkpoint.size} matches the log"
        )
