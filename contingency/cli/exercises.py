"""`contingency exercise ...` commands, and the top-level `contingency replay` / `contingency export`.

Exit codes of `exercise run`: 0 every expectation holds, 1 one failed, 2 bad scenario.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from foundation.settings import EXERCISE_TASK_QUEUE
from foundation.yamlfile import DocumentError

app = typer.Typer(no_args_is_help=True, help="Tabletop exercises: scenarios at accelerated time.")

# Diagnostics are one line each, whatever the terminal's width, so a script can grep them.
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")

ScenarioPath = Annotated[
    Path, typer.Argument(help="Scenario YAML file (see scenarios/).", show_default=False)
]


def _setup() -> None:
    from exercises.runner import quiet_sdk_logs
    from foundation.logging import configure_logging

    configure_logging("console", os.environ.get("CONTINGENCY_LOG_LEVEL", "WARNING"))
    quiet_sdk_logs()


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _load(path: Path):  # a Scenario, imported lazily to keep --help fast
    from exercises.scenario import load_scenario

    try:
        scenario = load_scenario(path)
    except DocumentError as exc:
        err.print(f"[bold red]Bad scenario[/] {exc.source}")
        for problem in exc.problems:
            err.print(f"  • {problem}")
        raise typer.Exit(2) from None
    _warn(path, scenario)
    return scenario


def _warn(path: Path, scenario) -> int:  # a Scenario
    """Print what will run but probably is not what the planner meant; how many."""
    from foundation.yamlfile import format_loc, line_of

    warnings = scenario.warnings()
    for loc, message in warnings:
        line = line_of(path, loc)
        where = f"line {line}, " if line else ""
        err.print(f"[yellow]warning[/] {path}: {where}{format_loc(loc)}: {message}")
    return len(warnings)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@app.command("validate")
def validate(paths: Annotated[list[Path], typer.Argument(help="Scenario files.")]) -> None:
    """Check scenario files without running them (exit 2 if any is malformed)."""
    bad = 0
    for path in paths:
        try:
            from exercises.scenario import load_scenario

            scenario = load_scenario(path)
            err.print(f"[green]ok[/]  {path}: {scenario.name} ({len(scenario.injects)} injects)")
            _warn(path, scenario)
        except DocumentError as exc:
            bad += 1
            err.print(f"[bold red]bad[/] {exc}")
    raise typer.Exit(2 if bad else 0)


@app.command("run")
def run(
    scenario_path: ScenarioPath,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    report: Annotated[
        Path | None, typer.Option(help="Write an after-action report (.html or .md).")
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="Ledger database (default: a temporary migrated SQLite file)."),
    ] = None,
    live: Annotated[
        bool, typer.Option("--live", help="Run against a real server on a compressed clock.")
    ] = False,
    speed: Annotated[
        float, typer.Option(min=1, help="Live mode: plan hours per real hour (3600: 72 h in 72 s).")
    ] = 3600,
    task_queue: Annotated[
        str, typer.Option(help="Live mode: the exercise task queue.")
    ] = EXERCISE_TASK_QUEUE,
) -> None:
    """Run a scenario through the production workflow and report what happened."""
    _setup()
    scenario = _load(scenario_path)
    result = _run(
        _run_live(scenario, scenario_path, speed, task_queue, database_url)
        if live
        else _run_skipping(scenario, scenario_path, database_url)
    )
    if as_json:
        sys.stdout.write(json.dumps(result.model_dump(mode="json"), indent=2) + "\n")
    else:
        from exercises.console import print_report

        print_report(result, Console())
    if report is not None:
        from exercises.aar import write_report

        for written in write_report(result, report):
            err.print(f"wrote {written}")
    raise typer.Exit(0 if result.passed else 1)


async def _run_skipping(scenario, path: Path, database_url: str | None):
    from exercises.runner import run_time_skipping

    return await run_time_skipping(scenario, source=str(path), database_url=database_url)


async def _run_live(scenario, path: Path, speed: float, task_queue: str, database_url: str | None):
    from exercises.runner import run_live
    from foundation.settings import Settings
    from foundation.temporal import connect
    from workflows.search_attributes import ensure_search_attributes
    from workflows.servers import start_dev_server

    settings = Settings()
    given = any(os.environ.get(k) for k in ("TEMPORAL_ADDRESS", "CONTINGENCY_TEMPORAL_ADDRESS"))
    env = None
    if given:
        client = await connect(settings)
        await ensure_search_attributes(client, settings.temporal_namespace)
        err.print(
            f"Live exercise on {settings.temporal_address} ({settings.temporal_namespace}), task queue {task_queue}"
        )
    else:
        ui_port = _free_port()
        env = await start_dev_server(ui=True, ui_port=ui_port)
        client = env.client
        err.print(
            f"Started a dev server; watch the exercise at [bold]http://127.0.0.1:{ui_port}[/] "
            f"(filter: Exercise = true)"
        )
    window = scenario.plan_data.activation_window_hours
    err.print(f"×{speed:g}: the {window:g} h window takes {window * 3600 / speed:.0f} s")
    try:
        return await run_live(
            scenario,
            speed=speed,
            client=client,
            task_queue=task_queue,
            source=str(path),
            database_url=database_url,
        )
    finally:
        if env is not None:
            await env.shutdown()


@app.command("sweep")
def sweep(
    scenario_paths: Annotated[
        list[Path],
        typer.Argument(
            help="Scenario YAML file; two files compare two variants run for run.",
            show_default=False,
        ),
    ],
    runs: Annotated[int, typer.Option(min=1, max=100_000, help="Number of runs.")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same sweep.")] = 7,
    verify: Annotated[
        int,
        typer.Option(
            min=0, help="Runs also checked through the real workflow (conformance sample)."
        ),
    ] = 50,
    temporal: Annotated[
        bool, typer.Option("--temporal", help="Every run through the real workflow (slow).")
    ] = False,
    parallel: Annotated[
        int | None, typer.Option(min=1, max=16, help="Time-skipping servers in all.")
    ] = None,
    processes: Annotated[
        int | None, typer.Option(min=1, max=16, help="OS processes (default: one per core).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    report: Annotated[
        Path | None, typer.Option(help="Write a sweep report (.html or .md).")
    ] = None,
) -> None:
    """Monte Carlo: run a scenario many times with times and answers drawn from its distributions.

    Runs go through the plan's state machine as the workflow drives it; a sample of them also
    through the real workflow, which must agree run for run (exit 1 if not). With two scenario
    files, both variants run with common random numbers and the report gives the difference.
    """
    _setup()
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from exercises.sweep import DEFAULT_PARALLEL, compare_variants, run_sweep

    if len(scenario_paths) > 2:
        err.print("[bold red]sweep takes one scenario, or two variants to compare[/]")
        raise typer.Exit(2)
    scenarios = [_load(path) for path in scenario_paths]
    if not any(s.is_random for s in scenarios):
        err.print("[yellow]note:[/] this scenario has no distributions; every run will be the same")
    checked = 0 if temporal else min(verify, runs)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        transient=as_json,
    ) as progress:
        tasks = {
            "fast": progress.add_task("runs (fast path)", total=runs * len(scenarios)),
            "conformance": progress.add_task(
                "conformance (workflow)", total=checked * len(scenarios)
            ),
        }
        if temporal:
            progress.update(tasks["fast"], description="runs (workflow)")
            tasks["temporal"] = tasks["fast"]
        if not checked:
            progress.remove_task(tasks["conformance"])

        def advance(what: str, count: int) -> None:
            progress.advance(tasks[what], count)

        options = {
            "runs": runs,
            "seed": seed,
            "verify": verify,
            "temporal": temporal,
            "parallel": parallel or DEFAULT_PARALLEL,
            "processes": processes,
            "on_progress": advance,
        }
        if len(scenarios) == 1:
            result = _run(run_sweep(scenarios[0], source=str(scenario_paths[0]), **options))
            summaries = [result]
        else:
            result = _run(
                compare_variants(
                    scenarios[0],
                    scenarios[1],
                    sources=(str(scenario_paths[0]), str(scenario_paths[1])),
                    **options,
                )
            )
            summaries = list(result.variants)
    if as_json:
        # pydantic's own encoder: a 100,000-run sweep is 110 MB of JSON, 6 s through json.dumps
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    else:
        for summary in summaries:
            _print_sweep(summary)
        if len(summaries) == 2:
            _print_difference(result)
    if report is not None:
        from exercises.aar import write_comparison_report, write_sweep_report

        write = write_sweep_report if len(summaries) == 1 else write_comparison_report
        for written in write(result, report):
            err.print(f"wrote {written}")
    failed = False
    for summary in summaries:
        if summary.conformance is not None:
            ok = summary.conformance.ok
            failed |= not ok
            colour = "bold red" if not ok else "green" if summary.conformance.checked else "yellow"
            err.print(f"[{colour}]{summary.conformance.describe()}[/]", markup=True)
        failed |= bool(summary.outcomes.get("error"))
    raise typer.Exit(1 if failed else 0)


def _print_difference(comparison) -> None:
    d = comparison.difference
    a, b = comparison.variants
    low, high = d.ci95
    Console().print(
        f"[bold]B − A[/] ({b.scenario} minus {a.scenario}), P(activation within "
        f"{a.window_hours:g} h): [bold]{d.difference:+.1%}[/] (95% paired interval "
        f"{low:+.1%} to {high:+.1%}); {d.only_b} runs activated only in B, {d.only_a} only in A, "
        f"over {d.runs} paired runs"
    )


def _print_sweep(summary) -> None:
    from rich.table import Table

    from exercises.sweep_text import headline, multimodal_warning
    from foundation.durations import format_hours

    console = Console()
    p = summary.time_to_activation
    console.print(
        f"[bold]{summary.scenario}[/]: {summary.runs} runs, seed {summary.seed}, "
        f"{summary.wall_seconds:.1f} s ({summary.engine})"
    )
    console.print(f"[bold]{headline(summary)}[/]")
    console.print(f"outcomes: {', '.join(f'{k} {v}' for k, v in summary.outcomes.items())}")
    if summary.multimodal:
        console.print(f"[yellow]{multimodal_warning(summary)}[/]")
    table = Table(
        title=f"Time to activation, hours after T0 ({p.count} activated runs)", title_justify="left"
    )
    names = ("min", "p10", "p25", "p50", "p75", "p90", "max")
    for name in names:
        table.add_column(name)
    table.add_row(
        *("—" if getattr(p, name) is None else format_hours(getattr(p, name)) for name in names)
    )
    console.print(table)
    if summary.held_back:
        console.print(
            "Held back (runs not activated, first unmet condition): "
            + ", ".join(f"[bold]{k}[/] {v}" for k, v in summary.held_back.items())
        )
    if summary.sensitivity:
        console.print(
            "What drives activation (P(activation) spread across a parameter's values): "
            + ", ".join(
                f"[bold]{x.parameter}[/] {x.effect:.0%} ({x.low} → {x.high})"
                for x in summary.sensitivity[:5]
            )
        )
    if summary.last_condition:
        console.print(
            "Last condition met before activation: "
            + ", ".join(f"{k} {v}" for k, v in summary.last_condition.items())
        )


# -- top level: `contingency replay`, `contingency export` ------------------------------------


def replay(
    paths: Annotated[
        list[Path], typer.Argument(help="History JSON files (or directories of them).")
    ],
) -> None:
    """Replay recorded histories against the current workflow code: exit 0 if all are deterministic."""
    _setup()
    from exercises.histories import replay_file

    files = [f for p in paths for f in (sorted(p.glob("*.json")) if p.is_dir() else [p])]
    if not files:
        err.print("[red]no history files given[/]")
        raise typer.Exit(2)

    async def _all():
        return [await replay_file(f) for f in files]

    try:
        outcomes = _run(_all())
    except (OSError, ValueError) as exc:
        err.print(f"[bold red]cannot read history:[/] {exc}")
        raise typer.Exit(2) from None
    console = Console()
    for o in outcomes:
        if o.deterministic:
            console.print(f"[green]deterministic[/]  {o.path} ({o.events} events)")
        else:
            console.print(f"[bold red]NOT deterministic[/]  {o.path}: {o.failure}")
    raise typer.Exit(0 if all(o.deterministic for o in outcomes) else 1)


def export(
    incident: Annotated[
        str, typer.Argument(help="Incident id (or its workflow id, incident-...).")
    ],
    out: Annotated[
        Path | None, typer.Option(help="Output file (default: <workflow id>.json).")
    ] = None,
) -> None:
    """Write an incident's Temporal history (from the configured server) to a JSON file."""
    _setup()
    from temporalio.service import RPCError

    from exercises.histories import export_history
    from foundation.settings import Settings
    from foundation.temporal import connect

    async def _export() -> tuple[str, str]:
        return await export_history(await connect(Settings()), incident)

    try:
        workflow_id, text = _run(_export())
    except RPCError as exc:
        err.print(f"[bold red]cannot export {incident}:[/] {exc.message}")
        raise typer.Exit(1) from None
    target = out or Path(f"{workflow_id}.json")
    target.write_text(text, encoding="utf-8")
    err.print(f"wrote {target} ({len(json.loads(text).get('events', []))} events)")
