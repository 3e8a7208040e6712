"""`make demo`: the ledger end to end, through the real `ledgerd` and `ledgerctl` commands.

Offline, a temporary ledger gets sample run records and findings, a signing key,
a signed checkpoint, an offline audit, an inclusion proof checked independently,
and a tamper test. Online, a real daemon serves a second temporary ledger: an
agent's run record is emitted through the hook (and, with the daemon down,
spooled and flushed later exactly once), read back over the API, and verified
against the pinned key; the daemon stops cleanly and the log audits. Then the
views: a daemon over the checked-in pipeline fixture (1,403 events from eleven
producers) answers verdicts (with their rules, and a waiver on both sides of its
expiry), source health (`--strict` blocks on a required source), a replay of a
run against a workspace (strict fails on drift, best-effort warns), and shows
that a rebuild gives the same state digests and offline answers the same bytes.
Last, a gate: in a temporary git repository, `ledgerctl gate run` passes a clean
change and blocks a healer's patch that weakens a spec and silences a linter,
then the report and every export format are produced from the same daemon.
A short summary is printed at the end.
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
from typing import Any

from ledger.model import encode_envelope
from ledger.samples import sample_events, sample_run
from ledger.tree.hashing import leaf_hash
from ledger.tree.verify import verify_inclusion

LEDGERCTL = [sys.executable, "-m", "ledger.cli"]
ENV = {**os.environ, "LEDGERD_CLOCK": "fixed:2026-01-01T12:00:00Z"}
FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "projections"
# The fixture's story runs through February 2026; its goldens were recorded on 1 March.
PIPELINE_ENV = {**os.environ, "LEDGERD_CLOCK": "fixed:2026-03-01T00:00:00Z"}
PIPELINE_AT = "2026-03-01T12:00:00Z"
PULL = "github.com/acme/app/pull/"


def ledgerctl(
    *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    shown = " ".join(["ledgerctl", *args])
    print(f"$ {shown}")
    result = subprocess.run(
        [*LEDGERCTL, *args], capture_output=True, text=True, env=env or ENV, check=False
    )
    if check and result.returncode != 0:
        sys.exit(f"demo step failed ({result.returncode}): {shown}\n{result.stdout}{result.stderr}")
    return result


def start_daemon(
    data: Path, work: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], dict[str, object]]:
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
        env=env or ENV,
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


def _view(*args: str, expect: int = 0) -> dict[str, Any]:
    result = ledgerctl(*args, "--json", check=False, env=PIPELINE_ENV)
    if result.returncode != expect:
        sys.exit(f"demo step exited {result.returncode}, not {expect}:\n{result.stdout}")
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def views(work: Path) -> dict[str, object]:
    """Verdicts, health, replay and rebuild over the checked-in pipeline fixture."""
    data = work / "pipeline"
    events = FIXTURE / "events.jsonl"
    ledgerctl("import", str(events), "--data-dir", str(data), "--json", env=PIPELINE_ENV)
    workspace = work / "pipeline-workspace"
    for relative, text in json.loads((FIXTURE / "workspace.json").read_text()).items():
        (workspace / relative).parent.mkdir(parents=True, exist_ok=True)
        (workspace / relative).write_text(text)
    daemon, announced = start_daemon(data, work, PIPELINE_ENV)
    server = ["--server", str(announced["address"])]
    at = ["--at", PIPELINE_AT]
    try:
        verdicts = {}
        for number in (101, 103, 105, 106):
            found = _view("verdict", PULL + str(number), *server, *at)
            verdict, explained = found["verdict"], found["explanation"]
            verdicts[number] = verdict["production_readiness"]
            print(
                f"  pull/{number}: {verdict['production_readiness']} "
                f"({explained['production_readiness']['rule']}: "
                f"{explained['production_readiness']['reason']}), "
                f"correctness {verdict['correctness']}, blast radius {verdict['blast_radius']}"
            )
        before = _view("verdict", PULL + "104", *server, "--at", "2026-03-01T05:00:00Z")
        after = _view("verdict", PULL + "104", *server, *at)
        print(
            "  pull/104 at 05:00: "
            f"{before['verdict']['production_readiness']}, at 12:00: "
            f"{after['verdict']['production_readiness']} (its waiver expired at 06:00)"
        )
        health = _view("health", *server, *at, "--strict", expect=4)
        print(
            f"  health --strict: exit 4 ({health['error_code']}), blocking "
            f"{', '.join(health['blocking'])}; summary {health['summary']}"
        )
        runs = _view("runs", *server, "--agent", "docs-agent", "--limit", "1")
        run_id = str(runs["runs"][0]["run_id"])
        strict = _view(
            "replay", run_id, *server, "--workspace", str(workspace), "--strict", expect=3
        )
        loose = _view("replay", run_id, *server, "--workspace", str(workspace), "--best-effort")
        print(
            f"  replay of the latest docs run: {strict['replay']['summary']}; strict exits 3 "
            f"({strict['error_code']}), best-effort exits 0 (ok={loose['replay']['ok']})"
        )
        status = _view("projections", "status", *server)
        rebuilt = _view("projections", "rebuild", *server)
        digests = [p["digest"] for p in status["projections"]]
        same = digests == [p["digest"] for p in rebuilt["projections"]]
        print(f"  rebuild from seq 0: the same state digests: {same}")
        if not same:
            sys.exit("demo failed: a rebuild changed the projections")
        online_bytes = ledgerctl(
            "verdict", PULL + "105", *server, *at, "--json", env=PIPELINE_ENV
        ).stdout
    finally:
        daemon.terminate()
        daemon.wait(60)
    offline_bytes = ledgerctl(
        "verdict", PULL + "105", "--data-dir", str(data), *at, "--json", env=PIPELINE_ENV
    ).stdout
    print(f"  offline, the same verdict bytes as online: {offline_bytes == online_bytes}")
    if offline_bytes != online_bytes:
        sys.exit("demo failed: offline and online verdicts differ")
    return {"verdicts": verdicts, "blocking": health["blocking"]}


def _git(repo: Path, *args: str) -> str:
    git = shutil.which("git") or sys.exit("demo failed: git is not installed")
    done = subprocess.run(
        [git, "-C", str(repo), *args], capture_output=True, text=True, env=GIT_ENV, check=True
    )
    return done.stdout.strip()


def _commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


GIT_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "GIT_AUTHOR_NAME": "demo",
    "GIT_AUTHOR_EMAIL": "demo@example.com",
    "GIT_COMMITTER_NAME": "demo",
    "GIT_COMMITTER_EMAIL": "demo@example.com",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
}
UNIT_PROBE = (
    "import sys; sys.path.insert(0, 'src'); import calc; "
    "sys.exit(0 if calc.add(1, 2) == 3 else 1)"
)


def gates(work: Path) -> dict[str, object]:
    """A gate run that passes a clean change and blocks a cheating one, then report and export."""
    repo = work / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "gate.toml").write_text(
        '[gate]\nname = "demo-gate"\n\n'
        f'[[probe]]\nname = "unit"\nargv = {json.dumps([sys.executable, "-c", UNIT_PROBE])}\n'
    )
    base = _commit(
        repo,
        {
            "src/calc.py": "def add(a, b):\n    return a + b\n",
            "specs/calc.md": "add(1, 2) == 3\n",
        },
        "base",
    )
    clean = _commit(
        repo,
        {"src/calc.py": "def add(a, b):\n    return a + b\n\n\ndef neg(a):\n    return -a\n"},
        "add neg",
    )
    _git(repo, "checkout", "-q", "-b", "healer", base)
    cheat = _commit(
        repo,
        {
            "src/calc.py": "def add(a, b):\n    return a - b + 2 * b  # noqa: E501\n",
            "specs/calc.md": "add(1, 2) == 3  (relaxed)\n",
        },
        "healer: make it pass",
    )
    data = work / "gated"
    daemon, announced = start_daemon(data, work)
    server = ["--server", str(announced["address"])]
    gate = ["gate", "run", "--config", str(repo / "gate.toml"), "--repo", str(repo), *server]
    gate += ["--spool", str(work / "gate-spool")]
    try:
        # The probes run in the work tree, so the gate wants --head checked out.
        _git(repo, "checkout", "-q", clean)
        passed = ledgerctl(*gate, "--subject", "pr-1", "--base", base, "--head", clean)
        print("  clean change: exit 0; the quintet in the report's Synthesis:")
        synthesis = passed.stdout.split("## Synthesis", 1)[1].split("\n\n", 2)[1]
        print("    " + synthesis.strip().replace("\n", "\n    "))
        _git(repo, "checkout", "-q", cheat)
        blocked = ledgerctl(
            *gate,
            "--subject",
            "pr-2",
            "--base",
            base,
            "--head",
            cheat,
            "--automated",
            "--json",
            check=False,
        )
        if blocked.returncode != 4:
            sys.exit(f"demo failed: the cheating patch exited {blocked.returncode}, not 4")
        refused = json.loads(blocked.stdout)
        print(f"  cheating patch: exit 4 ({refused['error_code']}): {refused['error']}")
        for fix in refused["details"]["required_fixes_before_merge"]:
            print(f"    required: {fix}")
        exports = {}
        for fmt in ("sarif", "openlineage", "intoto", "bundle", "csv"):
            out = work / f"export.{fmt}"
            done = json.loads(
                ledgerctl("export", "--format", fmt, "--out", str(out), *server, "--json").stdout
            )
            exports[fmt] = done["bytes"]
        print(f"  exports written atomically (bytes): {exports}")
        report = ledgerctl("report", "pr-2", *server, "--format", "md").stdout
        print(f"  report on pr-2: {len(report.splitlines())} lines, sections in order:")
        sections = [line[3:] for line in report.splitlines() if line.startswith("## ")]
        print("    " + " / ".join(sections))
    finally:
        daemon.terminate()
        daemon.wait(60)
    return {"passed": "pr-1", "blocked": "pr-2", "exports": sorted(exports)}


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
        pipeline = views(work)

        print()
        gated = gates(work)

        print()
        print("summary")
        print(f"  events: {imported['tree_size']} (run records and findings), idempotent re-import")
        print(f"  signed checkpoint: size {proof['tree_size']}, root {proof['root']}")
        print("  offline audit: passed; tampered copy: caught")
        print(
            f"  daemon: {served['events']} events served, one run record recorded and one "
            "spooled while down, flushed exactly once, verified against the pinned key"
        )
        print(
            f"  views over 1,403 pipeline events: verdicts {pipeline['verdicts']}, "
            f"health --strict blocked by {pipeline['blocking']}, replay drift caught"
        )
        print(
            f"  gate: {gated['passed']} passed, {gated['blocked']} (a healer's cheating patch) "
            f"blocked; exports {', '.join(map(str, gated['exports']))}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
