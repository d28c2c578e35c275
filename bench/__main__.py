"""``python -m bench [NAME ...] [--quick] [--json]``: run benchmarks, print a table per benchmark.

Names: exercise, intake, e2e, scale, ledger, notices, sweep (default: all). ``--quick`` shrinks every
benchmark so the lot finishes within a minute (the CI smoke test); ``--json`` prints the
figures machine-readably.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from collections.abc import Awaitable, Callable

from bench.report import Result, emit

Bench = Callable[[bool], Awaitable[Result]]


# Benchmark name -> module; imported only when run, so one needing a missing piece (the API)
# does not stop the others.
MODULES = {
    "exercise": "bench.exercise_speed",
    "intake": "bench.intake",
    "e2e": "bench.end_to_end",
    "scale": "bench.scale",
    "ledger": "bench.ledger",
    "notices": "bench.notices",
    "sweep": "bench.sweep_speed",
}
NAMES = tuple(MODULES)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"benchmarks to run: {', '.join(NAMES)} (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    return parser.parse_args(argv)


async def _run(names: list[str], quick: bool) -> list[Result]:
    results = []
    for name in names:
        print(f"running {name}...", file=sys.stderr, flush=True)
        try:
            bench: Bench = importlib.import_module(MODULES[name]).run
            results.append(await bench(quick))
            # On stderr as soon as it is known: a later benchmark that fails loses nothing.
            emit(results[-1:], False, sys.stderr)
        except Exception as exc:  # noqa: BLE001 (reported, and the exit status says so)
            failed = Result(name, f"{name}: FAILED")
            failed.notes.append(f"{type(exc).__name__}: {exc}")
            failed.params["failed"] = True
            results.append(failed)
            print(f"{name} failed: {exc!r}", file=sys.stderr, flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    unknown = [n for n in args.names if n not in NAMES]
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(NAMES)}",
            file=sys.stderr,
        )
        return 2
    from foundation.logging import configure_logging

    configure_logging("console", os.environ.get("BENCH_LOG_LEVEL", "WARNING"))
    # The servers started along the way print their banners on file descriptor 1: send them to
    # stderr while the benchmarks run, so stdout carries the tables (or the JSON) alone.
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        results = asyncio.run(_run(list(args.names or NAMES), args.quick))
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
    emit(results, args.json)
    return 1 if any(r.params.get("failed") for r in results) else 0


if __name__ == "__main__":
    code = main()
    # Exit explicitly once everything is shut down (sdk-python#300: aborts at interpreter exit).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
