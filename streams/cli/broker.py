"""``adstream broker``: the embedded broker in the foreground, its topics created, until SIGINT
or SIGTERM (which stop it and exit 0)."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from streams.cli.common import OK, USAGE
from streams.wire.settings import Settings

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction) -> None:
    broker = commands.add_parser("broker", help="run the embedded broker in the foreground")
    broker.add_argument(
        "--tls-cert", type=Path, help="serve TLS only, with this PEM certificate (chain)"
    )
    broker.add_argument("--tls-key", type=Path, help="the PEM private key of --tls-cert")
    broker.set_defaults(run=run, own_signals=True)


def run(args: argparse.Namespace) -> int:
    """Run the embedded broker until SIGINT or SIGTERM, then stop it (its process group) and
    exit 0. Both handlers are installed whatever was inherited: a background job of a script
    starts with SIGINT ignored, and SIGTERM's default would leave the broker running."""
    from streams.kafka.broker import broker_for

    received: list[int] = []

    def stop(signum: int, frame: object) -> None:
        received.append(signum)  # no more: the broker may be starting or stopping

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    settings = Settings.from_env()
    tls = {"tls_cert": args.tls_cert, "tls_key": args.tls_key} if args.tls_cert else {}
    if bool(args.tls_cert) != bool(args.tls_key) or (tls and settings.security_protocol != "SSL"):
        print(
            "adstream broker: --tls-cert and --tls-key go together, with "
            "ADSTREAM_SECURITY_PROTOCOL=SSL (and ADSTREAM_SSL_CAFILE: the authority to trust)",
            file=sys.stderr,
        )
        return USAGE
    with broker_for(settings, **tls) as ready:
        print(
            f"embedded broker at {ready.kafka}; export ADSTREAM_KAFKA={ready.kafka}"
            f" ADSTREAM_LEARN_SESSION_TIMEOUT_MS={ready.learn_session_timeout_ms}"
        )
        print("Ctrl-C or SIGTERM stops it (it keeps nothing: memory only)", flush=True)
        while not received:
            time.sleep(0.1)  # a signal interrupts it; its handler only records the signal
    print(f"{signal.Signals(received[0]).name}: embedded broker stopped", file=sys.stderr)
    return OK
