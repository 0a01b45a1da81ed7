"""``adstream models list|show|snapshot|promote|rollback|rebuild``: the snapshots on ``models``,
the versions workers serve, and a version rebuilt from the log."""

from __future__ import annotations

import argparse
import asyncio
import sys

from streams.cli.common import FAILED, OK, USAGE, apply_command, issuer, running_system
from streams.wire.settings import Settings

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction) -> None:
    models = commands.add_parser(
        "models", help="list model snapshots, snapshot a model now, rebuild a version"
    )
    models.add_argument(
        "action", choices=("list", "show", "snapshot", "promote", "rollback", "rebuild")
    )
    models.add_argument("name", nargs="?", help="model name (click, quality, category)")
    models.add_argument("version", nargs="?", help="show, rebuild, promote: VERSION (or latest)")
    models.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for effect")
    models.set_defaults(run=run, check=check)


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.action != "list" and not args.name:
        parser.error(f"models {args.action} needs a model NAME")
    if args.action in ("rebuild", "promote") and not args.version:
        parser.error(f"models {args.action} needs a NAME and a VERSION")
    if args.version and not _is_version(args):
        parser.error(f"models {args.action}: VERSION is a number, got {args.version!r}")


def _is_version(args: argparse.Namespace) -> bool:
    """Whether ``args.version`` is a version number (or ``latest``, for promote)."""
    return args.version.isdigit() or (args.action == "promote" and args.version == "latest")


def run(args: argparse.Namespace) -> int:
    from streams.snapshots.catalog import snapshot_catalog

    settings = running_system(snapshots=args.action != "promote")
    if settings is None:
        return USAGE
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
        return FAILED
    if not any(row.get("verified") for row in rows):
        print(
            f"none of the {len(rows)} snapshots verifies with this snapshot key "
            "(is it the workers' key? see docs/operations.md, 'The snapshot key')",
            file=sys.stderr,
        )
        return FAILED
    return OK


def _snapshot(settings: Settings, name: str, timeout_s: float) -> int:
    """snapshot NAME: send the command, then wait until a worker that applied it has written
    a snapshot of NAME since; exit 1 with the workers' reasons when none did."""
    from streams import snapshots
    from streams.control.client import send_command
    from streams.operations.versions import wait_snapshot
    from streams.wire.contracts import InvalidEvent

    arguments = {"model": name}
    try:
        seq = asyncio.run(send_command(settings, "snapshot", arguments, issued_by=issuer()))
    except InvalidEvent as error:
        print(f"not sent: {error.reason}", file=sys.stderr)
        return USAGE
    effects, written = asyncio.run(wait_snapshot(settings, name, seq, timeout_s=timeout_s))
    if written is None:
        reasons = "; ".join(f"{e['worker']}: {e.get('note', 'applied')}" for e in effects)
        print(
            f"no snapshot of {name} written within {timeout_s:g} s of command {seq}: "
            + (reasons or "no worker applied it (rejected? see the dead-letter topic)"),
            file=sys.stderr,
        )
        return FAILED
    meta, raw = written
    try:
        snapshots.verify(raw, key=settings.snapshot_key.encode())
    except snapshots.SnapshotRefused as error:
        print(
            f"{meta['worker']} wrote {name} version {meta['version']}, but this snapshot key "
            f"refuses it: {error}",
            file=sys.stderr,
        )
        return FAILED
    print(f"snapshot of {name} version {meta['version']} written by {meta['worker']}")
    return OK


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
            return FAILED
    else:
        target = LATEST if version == "latest" else int(version or LATEST)
    since = now_ms()
    code = apply_command(settings, action, {"model": name, "version": target}, timeout_s)
    if code:
        return code
    wanted = None if target == LATEST else target
    swaps = asyncio.run(wait_serving(settings, name, wanted, since, timeout_s=timeout_s))
    if not swaps:
        print(
            f"no worker serves {name} version {target} yet (is that version on models?)",
            file=sys.stderr,
        )
        return FAILED
    served = ", ".join(f"{swap['worker']}: version {swap['version']}" for swap in swaps)
    print(f"serving {name}: {served}")
    return OK


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
        return FAILED
    for field, value in sorted(rows[-1].items()):
        shown = f"<{len(value):,} bytes>" if isinstance(value, bytes) else value
        print(f"{field:>12}  {shown}")
    return OK


def _rebuild(settings: Settings, name: str, version: int) -> int:
    """Rebuild a version from the log; prints the verdict, returns 0 when identical."""
    from streams.operations.rebuild import rebuild

    try:
        verdict = asyncio.run(rebuild(settings, name, version))
    except LookupError as error:
        print(error, file=sys.stderr)
        return USAGE
    same = {True: "identical", False: "DIFFERENT"}
    print(
        f"{name} version {version} rebuilt from {verdict.examples:,} examples in "
        f"{verdict.seconds:.2f} s: ledger {same[verdict.same_ledger]}, "
        f"parameters {same[verdict.same_parameters]}, predictions "
        f"{same[verdict.same_predictions]} on {verdict.probes} probes "
        f"(max |diff| {verdict.max_abs_diff:g})"
    )
    print("REPRODUCED" if verdict.identical else "NOT REPRODUCED")
    return OK if verdict.identical else FAILED
