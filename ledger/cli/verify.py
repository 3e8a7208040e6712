"""`ledgerctl verify`: audit a data directory offline, or a daemon's log online.

Offline it re-hashes everything (`ledger.audit`). Online it trusts nothing the
daemon says about itself: the checkpoint must be signed by the pinned verifier
key (`--vkey`, never fetched from the server), must extend the checkpoint pinned
in the state file (`--state`; trust on first use when the file does not exist
yet), and a seeded sample of entries, always including the first and the last,
must carry inclusion proofs under it (`clients.verified.VerifiedLog`).
"""

from __future__ import annotations

import random
from pathlib import Path

import click

from clients.verified import VerifiedLog
from ledger.audit import audit_log
from ledger.checkpoint import Checkpoint
from ledger.cli._common import (
    DataDirTarget,
    ServerTarget,
    Target,
    json_option,
    load_verifier,
    target_options,
    usage_error,
)
from ledger.cli._output import b64, progress_bar, stdout, write_json
from ledger.errors import LedgerError
from ledger.fsutil import read_file

DEFAULT_SPOT_CHECKS = 16


@click.command()
@target_options
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Offline: a signed checkpoint the log must match.",
)
@click.option(
    "--vkey",
    default=None,
    help="The verifier key, inline or as a file path (online: required, it is pinned).",
)
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Online: remembers the last verified checkpoint; created on first use.",
)
@click.option(
    "--spot-checks",
    type=click.IntRange(min=0),
    default=None,
    help=f"Online: entries to prove included (default {DEFAULT_SPOT_CHECKS}).",
)
@json_option
def verify(
    target: Target,
    checkpoint_file: Path | None,
    vkey: str | None,
    state_file: Path | None,
    spot_checks: int | None,
    as_json: bool,
) -> None:
    """Check the log, offline in full or online against a pinned key.

    Offline (--data-dir): re-hash every leaf, check the chain, the stored tree
    and indexes, and optionally a signed --checkpoint.

    Online (--server): check the daemon's checkpoint is signed by --vkey and
    extends the one pinned in --state (trusted on first use, then saved), and
    prove --spot-checks entries, the first and last among them, are included.
    """
    if isinstance(target, ServerTarget):
        if checkpoint_file is not None:
            raise usage_error(
                "--checkpoint checks a data directory and needs --data-dir",
                "online, the checkpoint to extend is pinned in --state",
            )
        if vkey is None:
            raise usage_error(
                "--vkey is required with --server",
                "give the log's verifier key from its operator; it is never taken from the server",
            )
        count = DEFAULT_SPOT_CHECKS if spot_checks is None else spot_checks
        _verify_online(target, vkey, state_file, count, as_json)
        return
    if state_file is not None or spot_checks is not None:
        raise usage_error(
            "--state and --spot-checks verify a daemon and need --server",
            "offline, verify checks every leaf; pin a checkpoint with --checkpoint and --vkey",
        )
    _verify_offline(target, checkpoint_file, vkey, as_json)


def _verify_offline(
    target: DataDirTarget, checkpoint_file: Path | None, vkey: str | None, as_json: bool
) -> None:
    if (checkpoint_file is None) != (vkey is None):
        raise usage_error(
            "--checkpoint and --vkey go together",
            "give both to check a signed checkpoint, or neither",
        )
    note = None
    verifier = None
    if checkpoint_file is not None and vkey is not None:
        note = read_file(checkpoint_file, what="checkpoint").decode("utf-8", "replace")
        verifier = load_verifier(vkey)
    with target.reader() as log, progress_bar("verifying", enabled=not as_json) as advance:
        report = audit_log(log, checkpoint_note=note, verifier=verifier, progress=advance)
    root = b64(report.root)
    checkpoint = report.checkpoint
    if as_json:
        write_json(
            {
                "ok": True,
                "tree_size": report.size,
                "root": root,
                "checkpoint": None if checkpoint is None else _checkpoint_document(checkpoint),
            }
        )
        return
    stdout.print(f"ok: {report.size} leaves verified; root {root}")
    if checkpoint is not None:
        stdout.print(
            f"ok: checkpoint by {checkpoint.origin} at size {checkpoint.size} matches the log"
        )


def spot_check_seqs(size: int, count: int, seed: bytes) -> list[int]:
    """`count` distinct seqs below `size`: the last and the first, then a seeded sample.

    The seed is the verified root, so a re-run against the same checkpoint checks
    the same entries (reproducible), while a server cannot know which entries will
    be checked before it has signed the root.
    """
    count = min(count, size)
    if count == 0:
        return []
    chosen = {size - 1, 0} if count >= 2 else {size - 1}
    middle = range(1, size - 1)
    rng = random.Random(seed)  # noqa: S311 - a reproducible sample, not a secret
    chosen.update(rng.sample(middle, count - len(chosen)))
    return sorted(chosen)


def _verify_online(
    target: ServerTarget, vkey: str, state_file: Path | None, count: int, as_json: bool
) -> None:
    key = load_verifier(vkey)
    with target.client() as client:
        try:
            log = VerifiedLog(client, key, state_file)
        except LedgerError as exc:
            raise exc.add_context(where=f"state file {state_file}", stage="state") from None
        pinned = log.trusted
        try:
            checkpoint = log.refresh()
        except LedgerError as exc:
            raise exc.add_context(
                where=f"checkpoint of {target.address}", stage="checkpoint"
            ) from None
        checked = spot_check_seqs(checkpoint.size, count, checkpoint.root)
        # Every spot check is proven under the one checkpoint refreshed above: it is the
        # one the sample was seeded from and the one reported, and a refresh per check
        # would only cost a checkpoint fetch, a consistency proof and a state write each.
        for seq in checked:
            try:
                log.verify_event(seq=seq, checkpoint=checkpoint)
            except LedgerError as exc:
                raise exc.add_context(where="spot check", stage="spot_check", seq=seq) from None
    if as_json:
        write_json(
            {
                "ok": True,
                "server": target.address,
                "tree_size": checkpoint.size,
                "root": b64(checkpoint.root),
                "checkpoint": _checkpoint_document(checkpoint),
                "pinned": None if pinned is None else _checkpoint_document(pinned.checkpoint),
                "first_use": pinned is None,
                "state": None if state_file is None else str(state_file),
                "spot_checks": checked,
            }
        )
        return
    stdout.print(
        f"ok: checkpoint by {checkpoint.origin} at size {checkpoint.size} is signed by the "
        f"pinned key; root {b64(checkpoint.root)}"
    )
    if pinned is not None:
        stdout.print(
            f"ok: it extends the checkpoint at size {pinned.checkpoint.size} pinned in {state_file}"
        )
    elif state_file is not None:
        stdout.print(f"trusted on first use: pinned size {checkpoint.size} in {state_file}")
    else:
        stdout.print("note: without --state, consistency with earlier checkpoints is not checked")
    stdout.print(f"ok: {len(checked)} inclusion spot checks passed: seqs {checked}")


def _checkpoint_document(checkpoint: Checkpoint) -> dict[str, object]:
    return {"origin": checkpoint.origin, "tree_size": checkpoint.size, "root": b64(checkpoint.root)}
