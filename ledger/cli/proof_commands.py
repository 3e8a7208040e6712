"""`ledgerctl checkpoint` and `ledgerctl proof`: signed tree heads and Merkle proofs."""

from __future__ import annotations

from pathlib import Path

import click

from ledger.checkpoint import Checkpoint, SignerKey
from ledger.cli._common import data_dir_option, json_option, open_reader
from ledger.cli._output import b64, stdout, write_json


@click.command()
@data_dir_option
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The private key file written by `ledgerctl keygen`.",
)
@click.option("--size", type=click.IntRange(min=0), default=None, help="Tree size (default: all).")
@json_option
def checkpoint(data_dir: Path, key_file: Path, size: int | None, as_json: bool) -> None:
    """Print a signed C2SP checkpoint of the log."""
    key = SignerKey.load(key_file)
    with open_reader(data_dir) as log:
        tree_size, root = log.root(size)
    signed = Checkpoint(key.name, tree_size, root).sign(key)
    if as_json:
        write_json(
            {
                "ok": True,
                "origin": key.name,
                "tree_size": tree_size,
                "root": b64(root),
                "note": signed,
            }
        )
    else:
        click.echo(signed, nl=False)


@click.group()
def proof() -> None:
    """Merkle inclusion and consistency proofs (hashes in standard base64)."""


@proof.command()
@data_dir_option
@click.option("--seq", required=True, type=click.IntRange(min=0), help="The leaf to prove.")
@click.option("--tree-size", type=click.IntRange(min=1), default=None, help="Default: all.")
@json_option
def inclusion(data_dir: Path, seq: int, tree_size: int | None, as_json: bool) -> None:
    """Prove that the event at SEQ is in the tree of TREE_SIZE leaves."""
    with open_reader(data_dir) as log:
        found = log.inclusion_proof(seq, tree_size)
    document = {
        "leaf_index": found.leaf_index,
        "tree_size": found.tree_size,
        "leaf_hash": b64(found.leaf_hash),
        "root": b64(found.root),
        "hashes": [b64(h) for h in found.hashes],
    }
    _print_proof(document, as_json)


@proof.command()
@data_dir_option
@click.option("--from", "first", required=True, type=click.IntRange(min=1), help="Older size.")
@click.option("--to", "second", type=click.IntRange(min=1), default=None, help="Default: all.")
@json_option
def consistency(data_dir: Path, first: int, second: int | None, as_json: bool) -> None:
    """Prove that the tree at size TO extends the tree at size FROM."""
    with open_reader(data_dir) as log:
        found = log.consistency_proof(first, second)
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
