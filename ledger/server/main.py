"""The `ledgerd` entry point: `ledgerd serve`."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from ledger import __version__
from ledger.cli._runner import run_cli
from ledger.clock import clock_from_env
from ledger.server.config import load_config
from ledger.server.daemon import serve as serve_forever


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ledgerd")
def cli() -> None:
    """ledgerd: the ledger daemon."""


@cli.command()
@click.option("--data-dir", type=click.Path(file_okay=False), help="[LEDGERD_DATA_DIR]")
@click.option("--listen", help="HOST:PORT or unix:PATH (default 127.0.0.1:7700) [LEDGERD_LISTEN]")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A TOML file; flags and LEDGERD_* variables override it.",
)
@click.option("--origin", help="The log's origin (the signing key's name) [LEDGERD_ORIGIN]")
@click.option(
    "--signing-key",
    "signing_key_file",
    type=click.Path(dir_okay=False),
    help="Default: DATA_DIR/checkpoint.key, created on first start [LEDGERD_SIGNING_KEY_FILE]",
)
def serve(
    data_dir: str | None,
    listen: str | None,
    config_file: Path | None,
    origin: str | None,
    signing_key_file: str | None,
) -> None:
    """Serve the ledger over gRPC until SIGTERM or SIGINT.

    Prints one JSON line on standard output once serving (address, origin,
    verifier key, config fingerprint); logs go to standard error.
    """
    config = load_config(
        config_file=config_file,
        overrides={
            "data_dir": data_dir,
            "listen": listen,
            "origin": origin,
            "signing_key_file": signing_key_file,
        },
    )
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    serve_forever(config, clock_from_env())


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(cli, sys.argv[1:] if argv is None else argv, "ledgerd")


def entry_point() -> None:
    sys.exit(main())
