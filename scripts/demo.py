"""`make demo`: the ledger core end to end, through the real `ledgerctl` commands.

A temporary ledger gets sample run records and findings, a signing key, a signed
checkpoint, an offline audit, an inclusion proof checked independently, and a
tamper test; a short summary is printed at the end.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ledger.model import encode_envelope
from ledger.samples import sample_events, sample_run
from ledger.tree.hashing import leaf_hash
from ledger.tree.verify import verify_inclusion

LEDGERCTL = [sys.executable, "-m", "ledger.cli"]
ENV = {**os.environ, "LEDGERD_CLOCK": "fixed:2026-01-01T12:00:00Z"}


def ledgerctl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    shown = " ".join(["ledgerctl", *args])
    print(f"$ {shown}")
    result = subprocess.run(
        [*LEDGERCTL, *args], capture_output=True, text=True, env=ENV, check=False
    )
    if check and result.returncode != 0:
        sys.exit(f"demo step failed ({result.returncode}): {shown}\n{result.stdout}{result.stderr}")
    return result


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="ledgerd-demo-"))
    try:
        data = work / "data"
        events = work / "events.jsonl"
        sample = sample_events(40)
        sample[10] = sample_run(5, notes="demo tamper target")
        events.write_bytes(b"".join(encode_envelope(e) + b"\n" for e in sample))

        verifier = ledgerctl(
            "keygen", "--origin", "demo.ledgerd.local/log", "--out", str(work / "log.key")
        ).stdout.strip()
        print(f"  verifier key: {verifier}")

        imported = json.loads(
            ledgerctl("import", str(events), "--data-dir", str(data), "--json").stdout
        )
        print(f"  appended {imported['appended']} events; tree size {imported['tree_size']}")

        again = json.loads(
            ledgerctl("import", str(events), "--data-dir", str(data), "--json").stdout
        )
        print(
            f"  re-import: {again['duplicates']} duplicates recognised, "
            f"{again['appended']} appended"
        )

        note = ledgerctl(
            "checkpoint", "--data-dir", str(data), "--key", str(work / "log.key")
        ).stdout
        (work / "checkpoint.txt").write_text(note)
        print("  " + note.replace("\n", "\n  ").rstrip())

        audit = ledgerctl(
            "verify",
            "--data-dir",
            str(data),
            "--checkpoint",
            str(work / "checkpoint.txt"),
            "--vkey",
            str(work / "log.key.pub"),
        )
        print("  " + audit.stdout.strip().replace("\n", "\n  "))

        proof = json.loads(
            ledgerctl("proof", "inclusion", "--data-dir", str(data), "--seq", "7", "--json").stdout
        )
        leaf = json.loads(
            ledgerctl(
                "tail", "--data-dir", str(data), "--from", "7", "--limit", "1", "--json"
            ).stdout
        )
        hashed = leaf_hash(base64.b64decode(leaf["leaf_b64"]))
        verify_inclusion(
            proof["leaf_index"],
            proof["tree_size"],
            hashed,
            [base64.b64decode(h) for h in proof["hashes"]],
            base64.b64decode(proof["root"]),
        )
        print(
            f"  inclusion proof of seq 7 ({len(proof['hashes'])} hashes) "
            "checks out against the root"
        )

        tampered = work / "tampered"
        shutil.copytree(data, tampered, ignore=shutil.ignore_patterns("writer.lock", "lock.mdb"))
        db = tampered / "data.mdb"
        raw = db.read_bytes()
        # LMDB is copy-on-write: stale page copies may repeat the text, so change every copy.
        db.write_bytes(raw.replace(b"demo tamper target", b"demo tamper tarGet"))
        failed = ledgerctl("verify", "--data-dir", str(tampered), "--json", check=False)
        verdict = json.loads(failed.stdout)
        if verdict["ok"] or failed.returncode != 3:
            sys.exit("demo failed: the tampered copy verified")
        print(
            f"  after changing one byte of seq 10 on disk: exit {failed.returncode}, "
            f"{verdict['error']}"
        )

        print()
        print("summary")
        print(f"  events: {imported['tree_size']} (run records and findings), idempotent re-import")
        print(f"  signed checkpoint: size {proof['tree_size']}, root {proof['root']}")
        print("  offline audit: passed; tampered copy: caught")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
