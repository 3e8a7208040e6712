"""`ledgerctl keygen`: create a log's Ed25519 signing key."""

from __future__ import annotations

from pathlib import Path

import click

from ledger.checkpoint.keyfiles import create_key_files, verifier_path
from ledger.checkpoint.keys import check_origin
from ledger.cli._common import json_option
from ledger.cli._output import stdout, write_json
from ledger.errors import ErrorCode, InvalidInput


@click.command()
@click.option("--origin", required=True, help="The log's origin; also the key name.")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the private key (mode 0600). The verifier key goes to OUT.pub.",
)
@json_option
def keygen(origin: str, out: Path, as_json: bool) -> None:
    """Create a signing key and print its verifier key (`name+hexid+base64`)."""
    # The daemon's rule, checked before anything is written: a key whose name
    # cannot be an origin would only be refused later, when the daemon starts.
    check_origin(origin, code=ErrorCode.INVALID_KEY)
    public_path = verifier_path(out)
    for path in (out, public_path):
        if path.exists():
            raise InvalidInput(
                ErrorCode.INVALID_ARGUMENT,
                f"{path} already exists",
                hint="keys are never overwritten; choose another --out or move the old key away",
            )
    verifier = create_key_files(out, origin).verifier().to_text()
    if as_json:
        write_json(
            {
                "ok": True,
                "origin": origin,
                "key_file": str(out),
                "verifier_key": verifier,
                "verifier_key_file": str(public_path),
            }
        )
    else:
        stdout.print(verifier)
