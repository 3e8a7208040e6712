"""`make demo`: the ledger end to end, through the real `ledgerd` and `ledgerctl` commands.

Offline, a temporary ledger gets sample run records and findings, a signing key,
a signed checkpoint, an offline audit, an inclusion proof checked independently,
and a tamper test. Online, a real daemon serves a second temporary ledger: an
agent's run record is emitted through the hook (and, with the daemon down,
spooled and flushed later exactly once), read back over the API, and verified
against the pinned key; the daemon stops cleanly and the log audits. A short summary is
printed at the end.
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


def start_daemon(data: Path, work: Path) -> tuple[subprocess.Popen[str], dict[str, object]]:
    print(f"$ ledgerd serve --data-dir {data} --listen 127.0.0.1:0")
    daemon = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ledger.server",
            "serve",
            "--data-dir",
            str(data),
            "--listen",
            "127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=(work / "ledgerd.log").open("a"),
        text=True,
        env=ENV,
    )
    assert daemon.stdout is not None
    line = daemon.stdout.readline()
    if not line:
        sys.exit(f"demo failed: ledgerd did not start; see {work / 'ledgerd.log'}")
    announced: dict[str, object] = json.loads(line)
    print(f"  serving on {announced['address']}, origin {announced['origin']}")
    return daemon, announced


def online(work: Path) -> dict[str, object]:
    """The daemon, the agent hook, the spool, a live tail and a verified read."""
    data = work / "served"
    workspace = work / "workspace"
    workspace.mkdir()
    (workspace / "app.py").write_text("print('hello')\n")
    (workspace / "pyproject.toml").write_text("[project]\nname = 'app'\n")
    spool = ["--spool", str(work / "spool")]
    emit = [
        "emit",
        "run",
        "--agent",
        "fixer-agent",
        "--status",
        "SUCCESS",
        "--workspace",
        str(workspace),
        "--input",
        "app.py",
        "--input",
        "pyproject.toml",
        "--output",
        "app.py",
        "--no-git-head",
        "--json",
        *spool,
    ]

    daemon, announced = start_daemon(data, work)
    server = ["--server", str(announced["address"])]
    recorded = json.loads(ledgerctl(*emit, *server).stdout)
    print(f"  run record {recorded['outcome']} at seq {recorded['seq']}, read back and validated")
    print(f"$ kill -TERM {daemon.pid}")
    daemon.terminate()
    print(f"  ledgerd exited {daemon.wait(60)}")

    # The daemon is down: the agent's run still succeeds, and the record waits in the spool.
    down = json.loads(
        ledgerctl(*emit, "--server", str(announced["address"]), "--retry-deadline", "1").stdout
    )
    print(f"  with the daemon down: {down['outcome']} (exit 0, the agent carries on)")

    daemon, announced = start_daemon(data, work)
    server = ["--server", str(announced["address"])]
    flushed = json.loads(ledgerctl("spool", "flush", *server, *spool, "--json").stdout)
    again = json.loads(ledgerctl("spool", "flush", *server, *spool, "--json").stdout)
    print(
        f"  flushed {flushed['delivered']} spooled event(s); a second flush delivers "
        f"{again['delivered']}"
    )

    tail = ledgerctl("tail", *server, "--from", "0", "--json").stdout
    types = [json.loads(line)["event"]["type"] for line in tail.splitlines()]
    print(f"  the log: {', '.join(types)}")
    vkey = work / "served.vkey"
    vkey.write_text(str(announced["verifier_key"]) + "\n")
    verified = json.loads(
        ledgerctl(
            "verify", *server, "--vkey", str(vkey), "--state", str(work / "pin.json"), "--json"
        ).stdout
    )
    print(
        f"  verified online: checkpoint of {verified['tree_size']} signed by the pinned key, "
        f"{len(verified['spot_checks'])} inclusion spot checks"
    )
    daemon.terminate()
    daemon.wait(60)
    audit = json.loads(ledgerctl("verify", "--data-dir", str(data), "--json").stdout)
    print(f"  offline audit after a clean stop: ok={audit['ok']}")
    return {"events": verified["tree_size"], "types": types}


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
        served = online(work)

        print()
        print("summary")
        print(f"  events: {imported['tree_size']} (run records and findings), idempotent re-import")
        print(f"  signed checkpoint: size {proof['tree_size']}, root {proof['root']}")
        print("  offline audit: passed; tampered copy: caught")
        print(
            f"  daemon: {served['events']} events served, one run record recorded and one "
            "spooled while down, flushed exactly once, verified against the pinned key"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
