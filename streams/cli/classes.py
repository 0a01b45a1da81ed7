"""``adstream classes list|add|remove``: the category model's classes on a running system."""

from __future__ import annotations

import argparse
import asyncio
import sys

from streams.cli.common import FAILED, OK, USAGE, apply_command, running_system

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction) -> None:
    classes = commands.add_parser("classes", help="list, add or remove query categories")
    classes.add_argument("action", choices=("list", "add", "remove"))
    classes.add_argument("path", nargs="?", help="category path, e.g. travel/flights/budget")
    classes.add_argument("--model", default="category")
    classes.add_argument("--warm-start-from", help="copy this class's model for a new class")
    classes.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for effect")
    classes.set_defaults(run=run, check=check)


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.action != "list" and not args.path:
        parser.error(f"classes {args.action} needs a PATH")


def run(args: argparse.Namespace) -> int:
    from streams.control.client import latest_category_report

    settings = running_system()
    if settings is None:
        return USAGE
    if args.action == "list":
        report = asyncio.run(latest_category_report(settings))
        if report is None:
            print("no category model has reported yet", file=sys.stderr)
            return FAILED
        for path in report["classes"]:
            print(path)
        for path in report["retired"]:
            print(f"{path} (retired)")
        return OK
    arguments = {"model": args.model, "path": args.path}
    if args.warm_start_from:
        arguments["warm_start_from"] = args.warm_start_from
    cmd = "add_class" if args.action == "add" else "remove_class"
    return apply_command(settings, cmd, arguments, args.timeout)
