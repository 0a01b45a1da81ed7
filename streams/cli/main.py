"""``adstream``: the command line. It owns the terminal; the library logs.

adstream demo [--duration S] [--rate R] [--seed N] [--window S] [--scenario NAME]
adstream worker [--loglevel LEVEL]
adstream broker            run the embedded broker in the foreground, topics created (until
                           SIGINT or SIGTERM, which stop it and exit 0)
adstream bench [--quick]   hot-path micro-benchmarks and the end-to-end harness
adstream models list|show|snapshot|promote|rollback|rebuild   snapshots and served versions
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
import traceback
from getpass import getuser
from pathlib import Path

from learners.errors import AdstreamError
from producers.incidents import SCENARIOS
from streams.wire.keys import KeyFileError
from streams.wire.redact import redact_secrets
from streams.wire.settings import Settings

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from producers.demo import DemoOptions, run_demo, unanswered_not_shed

    given = {
        name: value
        for name, value in (
            ("duration_s", args.duration),
            ("rate_per_s", args.rate),
            ("seed", args.seed),
            ("attribution_window_s", args.window),
        )
        if value is not None
    }
    common = {
        "runs_dir": Path(args.runs_dir),
        "live": not args.no_live,
        "scenario": not args.no_scenario,
        "weights": args.weights,
        "weights_at_half": args.weights_at_half,
    }
    if args.scenario:
        options = DemoOptions.for_scenario(args.scenario, **given, **common)
    else:
        options = DemoOptions(**given, **common)
    summary = run_demo(options)
    lost = unanswered_not_shed(summary)
    if lost:
        print(
            f"not every query was answered: {lost:,} of {summary['queries_sent']:,} queries got"
            f" no prediction and were not shed ({summary['shed']:,} shed)",
            file=sys.stderr,
        )
        return 1
    return 0


def _worker(args: argparse.Namespace) -> int:
    from streams.worker.run import run_worker

    run_worker(Settings.from_env(), loglevel=args.loglevel)
    return 0


def _broker(args: argparse.Namespace) -> int:
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
        return 2
    with broker_for(settings, **tls) as ready:
        print(
            f"embedded broker at {ready.kafka}; export ADSTREAM_KAFKA={ready.kafka}"
            f" ADSTREAM_LEARN_SESSION_TIMEOUT_MS={ready.learn_session_timeout_ms}"
        )
        print("Ctrl-C or SIGTERM stops it (it keeps nothing: memory only)", flush=True)
        while not received:
            time.sleep(0.1)  # a signal interrupts it; its handler only records the signal
    print(f"{signal.Signals(received[0]).name}: embedded broker stopped", file=sys.stderr)
    return 0


def _running_system(*, snapshots: bool = False) -> Settings | None:
    """Settings of the running system the command talks to (``ADSTREAM_KAFKA`` must be set),
    with the workers' snapshot key if the command reads ``snapshots`` (never a new one)."""
    settings = Settings.from_env()
    if not settings.kafka:
        print("set ADSTREAM_KAFKA to the running system's bootstrap servers", file=sys.stderr)
        return None
    return settings.with_snapshot_key(create=False) if snapshots else settings


def _issuer() -> str:
    return f"cli@{getuser()}"


def _command(settings: Settings, cmd: str, arguments: dict, timeout_s: float) -> int:
    """Send a control command and wait for its effect; prints the outcome, returns the code."""
    from streams.control.client import send_command, wait_applied
    from streams.wire.contracts import InvalidEvent

    try:
        seq = asyncio.run(send_command(settings, cmd, arguments, issued_by=_issuer()))
    except InvalidEvent as error:
        print(f"not sent: {error.reason}", file=sys.stderr)
        return 2
    effects = asyncio.run(wait_applied(settings, seq, timeout_s=timeout_s))
    if not effects:
        print(
            f"command {seq} sent; no worker applied it within {timeout_s:g} s "
            "(rejected? see the dead-letter topic)",
            file=sys.stderr,
        )
        return 1
    print(f"command {seq} ({cmd} {arguments}) applied by {len(effects)} worker(s)")
    return 0


def _classes(args: argparse.Namespace) -> int:
    from streams.control.client import latest_category_report

    settings = _running_system()
    if settings is None:
        return 2
    if args.action == "list":
        report = asyncio.run(latest_category_report(settings))
        if report is None:
            print("no category model has reported yet", file=sys.stderr)
            return 1
        for path in report["classes"]:
            print(path)
        for path in report["retired"]:
            print(f"{path} (retired)")
        return 0
    arguments = {"model": args.model, "path": args.path}
    if args.warm_start_from:
        arguments["warm_start_from"] = args.warm_start_from
    cmd = "add_class" if args.action == "add" else "remove_class"
    return _command(settings, cmd, arguments, args.timeout)


def _weights(args: argparse.Namespace) -> int:
    from streams.control.client import latest_weights

    settings = _running_system()
    if settings is None:
        return 2
    if args.action == "sweep":
        return _sweep(settings, Path(args.out))
    if args.action == "show":
        effect = asyncio.run(latest_weights(settings))
        if effect is None:
            print("alpha=0 beta=1 version=0 (the default: engagement only)")
        else:
            weights = effect["args"]
            print(f"alpha={weights['alpha']:g} beta={weights['beta']:g} version={effect['seq']}")
        return 0
    return _command(settings, "set_weights", {"alpha": args.alpha, "beta": args.beta}, args.timeout)


def _models(args: argparse.Namespace) -> int:
    from streams.snapshots.catalog import snapshot_catalog

    settings = _running_system(snapshots=args.action != "promote")
    if settings is None:
        return 2
    if args.action == "snapshot":
        return _snapshot(settings, args.name, args.timeout)
    if args.action == "rebuild":
        return _rebuild(settings, args.name, int(args.version))
    if args.action in ("promote", "rollback"):
        return _serve_version(settings, args.action, args.name, args.version, args.timeout)
    if args.action == "show":
        return _show(settings, args.name, args.version)
    rows = [
        row
        for row in asyncio.run(snapshot_catalog(settings))
        if not args.name or row["model"] == args.name
    ]
    for row in rows:
        if "refused" in row:
            print(f"{row['model']}  REFUSED at offset {row['offset']}: {row['refused']}")
        else:
            print(
                f"{row['model']}  version {row['version']}  parent {row['parent']}  "
                f"examples {row['n_examples']:,}  {row['bytes']:,} bytes  "
                f"offsets {row['offsets']}  created {row['created_at']}"
            )
    if not rows:
        print(f"no snapshot{f' of {args.name}' if args.name else ''} on models", file=sys.stderr)
        return 1
    if not any(row.get("verified") for row in rows):
        print(
            f"none of the {len(rows)} snapshots verifies with this snapshot key "
            "(is it the workers' key? see docs/operations.md, 'The snapshot key')",
            file=sys.stderr,
        )
        return 1
    return 0


def _snapshot(settings: Settings, name: str, timeout_s: float) -> int:
    """snapshot NAME: send the command, then wait until a worker that applied it has written
    a snapshot of NAME since; exit 1 with the workers' reasons when none did."""
    from streams import snapshots
    from streams.control.client import send_command
    from streams.operations.versions import wait_snapshot
    from streams.wire.contracts import InvalidEvent

    arguments = {"model": name}
    try:
        seq = asyncio.run(send_command(settings, "snapshot", arguments, issued_by=_issuer()))
    except InvalidEvent as error:
        print(f"not sent: {error.reason}", file=sys.stderr)
        return 2
    effects, written = asyncio.run(wait_snapshot(settings, name, seq, timeout_s=timeout_s))
    if written is None:
        reasons = "; ".join(f"{e['worker']}: {e.get('note', 'applied')}" for e in effects)
        print(
            f"no snapshot of {name} written within {timeout_s:g} s of command {seq}: "
            + (reasons or "no worker applied it (rejected? see the dead-letter topic)"),
            file=sys.stderr,
        )
        return 1
    meta, raw = written
    try:
        snapshots.verify(raw, key=settings.snapshot_key.encode())
    except snapshots.SnapshotRefused as error:
        print(
            f"{meta['worker']} wrote {name} version {meta['version']}, but this snapshot key "
            f"refuses it: {error}",
            file=sys.stderr,
        )
        return 1
    print(f"snapshot of {name} version {meta['version']} written by {meta['worker']}")
    return 0


def _serve_version(
    settings: Settings, action: str, name: str, version: str | None, timeout_s: float
) -> int:
    """promote NAME VERSION|latest, rollback NAME: send, then wait until workers serve it."""
    from streams.kafka.outbox import now_ms
    from streams.operations.versions import NoOlderVersion, rollback_target, wait_serving
    from streams.serving.follower import LATEST

    if action == "rollback":
        try:
            target = asyncio.run(rollback_target(settings, name))
        except NoOlderVersion as error:
            print(error, file=sys.stderr)
            return 1
    else:
        target = LATEST if version == "latest" else int(version or LATEST)
    since = now_ms()
    code = _command(settings, action, {"model": name, "version": target}, timeout_s)
    if code:
        return code
    wanted = None if target == LATEST else target
    swaps = asyncio.run(wait_serving(settings, name, wanted, since, timeout_s=timeout_s))
    if not swaps:
        print(
            f"no worker serves {name} version {target} yet (is that version on models?)",
            file=sys.stderr,
        )
        return 1
    served = ", ".join(f"{swap['worker']}: version {swap['version']}" for swap in swaps)
    print(f"serving {name}: {served}")
    return 0


def _show(settings: Settings, name: str, version: str | None) -> int:
    """The full metadata of a snapshot (the newest of ``name`` unless a version is given)."""
    from streams.snapshots.catalog import snapshot_catalog

    rows = [
        row
        for row in asyncio.run(snapshot_catalog(settings))
        if row.get("verified")
        and row["model"] == name
        and (version is None or row["version"] == int(version))
    ]
    if not rows:
        print(
            f"no verified snapshot of {name}" + (f" at version {version}" if version else ""),
            file=sys.stderr,
        )
        return 1
    for field, value in sorted(rows[-1].items()):
        shown = f"<{len(value):,} bytes>" if isinstance(value, bytes) else value
        print(f"{field:>12}  {shown}")
    return 0


def _rebuild(settings: Settings, name: str, version: int) -> int:
    """Rebuild a version from the log; prints the verdict, returns 0 when identical."""
    from streams.operations.rebuild import rebuild

    try:
        verdict = asyncio.run(rebuild(settings, name, version))
    except LookupError as error:
        print(error, file=sys.stderr)
        return 2
    same = {True: "identical", False: "DIFFERENT"}
    print(
        f"{name} version {version} rebuilt from {verdict.examples:,} examples in "
        f"{verdict.seconds:.2f} s: ledger {same[verdict.same_ledger]}, "
        f"parameters {same[verdict.same_parameters]}, predictions "
        f"{same[verdict.same_predictions]} on {verdict.probes} probes "
        f"(max |diff| {verdict.max_abs_diff:g})"
    )
    print("REPRODUCED" if verdict.identical else "NOT REPRODUCED")
    return 0 if verdict.identical else 1


def _sweep(settings: Settings, out_dir: Path) -> int:
    from rich.console import Console
    from rich.table import Table

    from streams.operations.sweep import run_sweep

    rows = asyncio.run(run_sweep(settings, out_dir))
    table = Table(title="off-policy estimates (IPS) from the logged traffic")
    for column in ("alpha", "beta", "CTR", "± se", "mean quality", "matches", "Pareto"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            f"{row['alpha']:g}",
            f"{row['beta']:g}",
            f"{row['ctr']:.4f}",
            f"{row['ctr_se']:.4f}",
            f"{row['mean_quality']:.4f}",
            f"{row['matches']:,} / {row['n']:,}",
            "*" if row["pareto"] else "",
        )
    console = Console()
    console.print(table)
    console.print(f"written {out_dir / 'sweep.json'} and {out_dir / 'sweep.png'}")
    if not (rows and rows[0]["n"]):
        print("no logged traffic to estimate from (no ranked impressions yet)", file=sys.stderr)
        return 1
    return 0


def _bench(args: argparse.Namespace) -> int:
    from benchmarks.run import run_benchmarks

    return run_benchmarks(quick=args.quick)


def _weights_pair(text: str) -> tuple[float, float] | None:
    if text.lower() == "none":
        return None
    try:
        alpha, beta = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ALPHA,BETA, got {text!r}") from None
    return alpha, beta


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adstream", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the demo on the embedded broker")
    demo.add_argument("--duration", type=float, help="seconds of traffic (60; 230 with --scenario)")
    demo.add_argument("--rate", type=float, help="queries per second (300; 250 with --scenario)")
    demo.add_argument("--seed", type=int, help="seed of the simulated world (7; 5 with --scenario)")
    demo.add_argument(
        "--window", type=float, help="attribution window, seconds (30; 2 with --scenario)"
    )
    demo.add_argument("--runs-dir", default="runs", help="where summaries are written")
    demo.add_argument("--no-live", action="store_true", help="no live view (for logs and CI)")
    demo.add_argument(
        "--no-scenario", action="store_true", help="no category launch or retirement mid-run"
    )
    demo.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default=None,
        help="play what goes wrong in real life instead of the default show (see docs)",
    )
    demo.add_argument(
        "--weights",
        type=_weights_pair,
        default=None,
        metavar="ALPHA,BETA",
        help="objective weights from the start (default: engagement only)",
    )
    demo.add_argument(
        "--weights-at-half",
        type=_weights_pair,
        default=(1.0, 1.0),
        metavar="ALPHA,BETA|none",
        help="objective weights set at half time (default 1,1; 'none' keeps them)",
    )
    demo.set_defaults(run=_demo)

    worker = commands.add_parser("worker", help="run one worker (settings from ADSTREAM_*)")
    worker.add_argument("--loglevel", default="WARNING")
    worker.set_defaults(run=_worker)

    broker = commands.add_parser("broker", help="run the embedded broker in the foreground")
    broker.add_argument(
        "--tls-cert", type=Path, help="serve TLS only, with this PEM certificate (chain)"
    )
    broker.add_argument("--tls-key", type=Path, help="the PEM private key of --tls-cert")
    broker.set_defaults(run=_broker)

    classes = commands.add_parser("classes", help="list, add or remove query categories")
    classes.add_argument("action", choices=("list", "add", "remove"))
    classes.add_argument("path", nargs="?", help="category path, e.g. travel/flights/budget")
    classes.add_argument("--model", default="category")
    classes.add_argument("--warm-start-from", help="copy this class's model for a new class")
    classes.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for effect")
    classes.set_defaults(run=_classes)

    weights = commands.add_parser("weights", help="show or set the objective weights")
    weights.add_argument("action", choices=("show", "set", "sweep"))
    weights.add_argument("--alpha", type=float, default=0.0, help="weight of quality")
    weights.add_argument("--beta", type=float, default=1.0, help="weight of engagement")
    weights.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for effect")
    weights.add_argument("--out", default="runs/sweep", help="sweep: where JSON and PNG go")
    weights.set_defaults(run=_weights)

    models = commands.add_parser(
        "models", help="list model snapshots, snapshot a model now, rebuild a version"
    )
    models.add_argument(
        "action", choices=("list", "show", "snapshot", "promote", "rollback", "rebuild")
    )
    models.add_argument("name", nargs="?", help="model name (click, quality, category)")
    models.add_argument("version", nargs="?", help="show, rebuild, promote: VERSION (or latest)")
    models.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for effect")
    models.set_defaults(run=_models)

    bench = commands.add_parser("bench", help="run the benchmarks; results in benchmarks/results")
    bench.add_argument("--quick", action="store_true", help="shorter runs (a smoke test)")
    bench.set_defaults(run=_bench)
    return parser


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C: what the command started (an embedded broker, a worker
    process) is stopped by its ``with`` block instead of outliving the command."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command not in ("worker", "broker"):  # Faust handles its own; broker its own too
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if args.command == "classes" and args.action != "list" and not args.path:
        parser.error(f"classes {args.action} needs a PATH")
    if args.command == "models" and args.action != "list" and not args.name:
        parser.error(f"models {args.action} needs a model NAME")
    if args.command == "models" and args.action in ("rebuild", "promote") and not args.version:
        parser.error(f"models {args.action} needs a NAME and a VERSION")
    if args.command == "models" and args.version and not _is_version(args):
        parser.error(f"models {args.action}: VERSION is a number, got {args.version!r}")
    if args.command != "worker":
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()  # every command reads them: say what is wrong first
    except ValueError as error:
        print(f"adstream {args.command}: bad ADSTREAM_* settings: {error}", file=sys.stderr)
        return 2
    if args.command != "worker":  # the worker masks them itself, the resolved key too
        redact_secrets(settings)
    try:
        return args.run(args)
    except KeyFileError as error:
        print(f"adstream {args.command}: {error}", file=sys.stderr)
        return 2
    except AdstreamError as error:  # raised on purpose, with its reason: no traceback
        print(f"adstream {args.command}: {error}", file=sys.stderr)
        return 1
    except Exception as error:
        refusal = _broker_refusal(error)
        if refusal is None:
            raise
        print(
            f"adstream {args.command}: the brokers at {settings.kafka} refused or did not answer "
            f"(security_protocol {settings.security_protocol}): {refusal}",
            file=sys.stderr,
        )
        return 1


def _broker_refusal(error: Exception) -> str | None:
    """What a Kafka client said when it gave up on the brokers (None: ``error`` is not that):
    a connection or authentication error of aiokafka, kafka-python or librdkafka (their log
    lines above it say why: a certificate not trusted, a refused login), or the ``KeyError``
    aiokafka raises when a broker ends a SCRAM exchange with an error it does not flag as one
    (Tansu 0.6 answers a login so)."""
    import aiokafka.errors
    import confluent_kafka
    import kafka.errors

    clients = (aiokafka.errors.KafkaError, kafka.errors.KafkaError, confluent_kafka.KafkaException)
    if isinstance(error, clients):
        said = str(error)  # aiokafka's starts with its class name, the others' do not
        return said if said.startswith(type(error).__name__) else f"{type(error).__name__}: {said}"
    frames = traceback.extract_tb(error.__traceback__)
    if isinstance(error, KeyError) and frames and frames[-1].name == "process_server_final_message":
        return "the broker refused the SASL/SCRAM login (unknown user or wrong password)"
    return None


def _is_version(args: argparse.Namespace) -> bool:
    """Whether ``args.version`` is a version number (or ``latest``, for promote)."""
    return args.version.isdigit() or (args.action == "promote" and args.version == "latest")


if __name__ == "__main__":
    sys.exit(main())
