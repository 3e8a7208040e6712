"""`ledgerctl checkpoint` and `ledgerctl proof`: signed tree heads and Merkle proofs.

Offline, `checkpoint` signs the data directory's tree with a local key; online,
the daemon signs and `--vkey` checks its signature. Proofs come from the data
directory or the daemon as they are: checking them is `ledgerctl verify`'s job.
"""

from __future__ import annotations

from pathlib import Path

import click

from ledger.checkpoint import (
    Checkpoint,
    SignerKey,
    open_checkpoint,
    parse_checkpoint_body,
    parse_note,
)
from ledger.cli._common import (
    DataDirTarget,
    ServerTarget,
    Target,
    json_option,
    load_verifier,
    open_proof_source,
    target_options,
    usage_error,
)
from ledger.cli._output import b64, stderr, stdout, write_json


@click.command()
@target_options
@click.option(
    "--key",
    "key_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Offline (required): the private key file written by `ledgerctl keygen`.",
)
@click.option(
    "--vkey",
    default=None,
    help="Online: verify the daemon's signature with this verifier key (inline or a file).",
)
@click.option("--size", type=click.IntRange(min=0), default=None, help="Tree size (default: all).")
@json_option
def checkpoint(
    target: Target, key_file: Path | None, vkey: str | None, size: int | None, as_json: bool
) -> None:
    """Print a signed C2SP checkpoint of the log."""
    if isinstance(target, ServerTarget):
        signed, verified = _served_checkpoint(target, key_file, vkey, size)
    else:
        signed, verified = _local_checkpoint(target, key_file, vkey, size), None
    body = parse_checkpoint_body(parse_note(signed).text)
    if as_json:
        document: dict[str, object] = {
            "ok": True,
            "origin": body.origin,
            "tree_size": body.size,
            "root": b64(body.root),
            "note": signed,
        }
        if verified is not None:
            document["verified"] = verified
        write_json(document)
        return
    click.echo(signed, nl=False)
    if verified:
        # Standard output is the note alone (it is redirected into a file); this is commentary.
        stderr.print(f"ok: signed by the pinned key {body.origin}")


def _local_checkpoint(
    target: DataDirTarget, key_file: Path | None, vkey: str | None, size: int | None
) -> str:
    if vkey is not None:
        raise usage_error(
            "--vkey checks a daemon's signature and needs --server",
            "offline, ledgerctl signs the checkpoint itself with --key",
        )
    if key_file is None:
        raise usage_error(
            "--key is required with --data-dir",
            "give the private key file written by `ledgerctl keygen`",
        )
    key = SignerKey.load(key_file)
    with target.reader() as log:
        tree_size, root = log.root(size)
    return Checkpoint(key.name, tree_size, root).sign(key)


def _served_checkpoint(
    target: ServerTarget, key_file: Path | None, vkey: str | None, size: int | None
) -> tuple[str, bool]:
    """The daemon's signed note, and whether `--vkey` verified it."""
    if key_file is not None:
        raise usage_error(
            "--key signs a checkpoint of a data directory and needs --data-dir",
            "online, the daemon signs with its own key; check it with --vkey",
        )
    # Load the key before calling out, so a bad --vkey fails without touching the network.
    verifier = load_verifier(vkey) if vkey is not None else None
    with target.client() as client:
        note = client.checkpoint(size).note
    if verifier is None:
        return note, False
    open_checkpoint(note, verifier)
    return note, True


@click.group()
def proof() -> None:
    """Merkle inclusion and consistency proofs (hashes in standard base64)."""


@proof.command()
@target_options
@click.option("--seq", required=True, type=click.IntRange(min=0), help="The leaf to prove.")
@click.option("--tree-size", type=click.IntRange(min=1), default=None, help="Default: all.")
@json_option
def inclusion(target: Target, seq: int, tree_size: int | None, as_json: bool) -> None:
    """Prove that the event at SEQ is in the tree of TREE_SIZE leaves."""
    with open_proof_source(target) as source:
        found = source.inclusion_proof(seq, tree_size)
    document = {
        "leaf_index": found.leaf_index,
        "tree_size": found.tree_size,
        "leaf_hash": b64(found.leaf_hash),
        "root": b64(found.root),
        "hashes": [b64(h) for h in found.hashes],
    }
    _print_proof(document, as_json)


@proof.command()
@target_options
@click.option("--from", "first", required=True, type=click.IntRange(min=1), help="Older size.")
@click.option("--to", "second", type=click.IntRange(min=1), default=None, help="Default: all.")
@json_option
def consistency(target: Target, first: int, second: int | None, as_json: bool) -> None:
    """Prove that the tree at size TO extends the tree at size FROM."""
    with open_proof_source(target) as source:
        found = source.consistency_proof(first, second)
    document = {
        "first_size": found.first_size,
        "second_size": found.second_size,
        "first_root": b64(found.first_root),
        "second_root": b64(found.second_root),
        "hashes": [b64(h) for h in found.hashes],
    }
    _print_proof(document, as_json)


def _print_proof(document: dict[str, object], as_json: bool) -> None:
    if as_json:
        write_json({"ok": True, **document})
        return
    for name, value in document.items():
        if isinstance(value, list):
            stdout.print(f"{name}:")
            for item in value:
                stdout.print(f"  {item}")
        else:
            stdout.print(f"{name}: {value}")
