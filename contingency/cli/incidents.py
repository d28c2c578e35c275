"""`contingency report|status|evidence|commit|decide|list|ledger`: the crisis cell's commands,
over the HTTP API (CONTINGENCY_API_URL, CONTINGENCY_TOKEN)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from contingency.cli import render
from contingency.cli.client import DEFAULT_API_URL, ApiClient, CliError
from foundation.durations import parse_hours

ApiUrl = Annotated[
    str, typer.Option("--api-url", envvar="CONTINGENCY_API_URL", help="Base URL of the API")
]
Token = Annotated[
    str | None,
    typer.Option("--token", envvar="CONTINGENCY_TOKEN", help="API token (contingency tokens add)"),
]
Json = Annotated[bool, typer.Option("--json", help="Print the API's JSON answer, for scripts")]
Key = Annotated[
    str | None,
    typer.Option(
        "--idempotency-key", help="Re-run with the same key to retry without recording twice"
    ),
]
IncidentArg = Annotated[str, typer.Argument(help="Incident id, e.g. zaporizhzhia-3f2a9c1e")]


def iso_utc(text: str, now: datetime | None = None) -> str:
    """An ISO 8601 time (UTC if it names no zone), or a time relative to now: ``-90m``, ``-2h``."""
    if text.startswith("-"):
        try:
            hours = parse_hours(text)
        except ValueError:
            hours = None
        if hours is not None:
            return ((now or datetime.now(UTC)) + timedelta(hours=hours)).isoformat()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        typer.echo(
            f"error: --observed-at: {text!r} is neither an ISO 8601 time nor a time ago (-2h)",
            err=True,
        )
        raise typer.Exit(2) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def run(
    api_url: str,
    token: str | None,
    as_json: bool,
    call: Callable[[ApiClient], Any],
    show: Callable[[Any], None],
) -> None:
    try:
        with ApiClient(api_url, token) as client:
            data = call(client)
    except CliError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        render.emit_json(data)
    else:
        show(data)


def whole_ledger(client: ApiClient, incident: str) -> dict[str, Any]:
    """Every page of the incident's ledger, as one answer."""
    path = f"/v1/incidents/{incident}/decisions"
    data = client.get(path)
    while data.get("next_after") is not None:
        page = client.get(path, {"after": data["next_after"], "limit": 1000})
        data["decisions"] += page["decisions"]
        data["next_after"] = page.get("next_after")
    return data


def register(app: typer.Typer) -> None:
    @app.command()
    def report(
        report_id: Annotated[
            str, typer.Option(help="Your id for this report; re-posting it is safe")
        ],
        kind: Annotated[str, typer.Option(help="e.g. large_scale_offensive")],
        sector: Annotated[str, typer.Option()],
        reported_by: Annotated[str, typer.Option(help="The reporting source")],
        summary: Annotated[str, typer.Option()] = "",
        observed_at: Annotated[
            str | None,
            typer.Option(help="T0: ISO 8601 (UTC if no zone), or a time ago (-2h); default now"),
        ] = None,
        evidence: Annotated[
            list[str] | None,
            typer.Option("--evidence", help="SOURCE or SOURCE=SUMMARY; repeatable"),
        ] = None,
        plan: Annotated[str | None, typer.Option(help="Plan id (default: allied-72h)")] = None,
        joins: Annotated[
            str | None,
            typer.Option(
                help="An open incident this report joins (the same offensive): its sector, "
                "reporter and evidence join that response"
            ),
        ] = None,
        quiet: Annotated[
            bool, typer.Option("--quiet", "-q", help="Print the incident id only, for scripts")
        ] = False,
        api_url: ApiUrl = DEFAULT_API_URL,
        token: Token = None,
        as_json: Json = False,
    ) -> None:
        """Report a violation: opens an incident and starts the plan's clock at T0 (or, with
        --joins, adds the report to an open response of the same offensive)."""
        body: dict[str, Any] = {
            "report_id": report_id,
            "kind": kind,
            "sector": sector,
            "reported_by": reported_by,
            "summary": summary,
            "evidence": [
                dict(zip(("source", "summary"), item.split("=", 1), strict=False))
                for item in evidence or []
            ],
        }
        if observed_at is not None:
            body["observed_at"] = iso_utc(observed_at)
        if plan:
            body["plan_id"] = plan
        if joins:
            body["joins"] = joins
        # The report id already makes this idempotent; no key needed.
        show = (lambda data: print(data["incident_id"])) if quiet else render.accepted
        run(api_url, token, as_json, lambda c: c.post("/v1/violations", body), show)

    @app.command()
    def status(
        incident: IncidentArg,
        api_url: ApiUrl = DEFAULT_API_URL,
        token: Token = None,
        as_json: Json = False,
    ) -> None:
        """The live state of an incident: phase, deadlines and time left, quorum, timeline."""
        run(api_url, token, as_json, lambda c: c.get(f"/v1/incidents/{incident}"), render.incident)

    @app.command()
    def related(
        incident: IncidentArg,
        api_url: ApiUrl = DEFAULT_API_URL,
        token: Token = None,
        as_json: Json = False,
    ) -> None:
        """Open incidents of the same plan observed close in time: perhaps the same offensive
        (suggested, never merged by the engine)."""
        run(
            api_url,
            token,
            as_json,
            lambda c: c.get(f"/v1/incidents/{incident}/related"),
            render.related,
        )

    @app.command("evidence")
    def add_evidence(
        incident: IncidentArg,
        source: Annotated[
            str, typer.Option(help="Who provides it; a new source counts towards verification")
        ],
        summary: Annotated[str, typer.Option()] = "",
        idempotency_key: Key = None,
        api_url: ApiUrl = DEFAULT_API_URL,
        token: Token = None,
        as_json: Json = False,
    ) -> None:
        """Add evidence to an incident."""
        body = {"source": source, "summary": summary}
        run(
            api_url,
            token,
            as_json,
            lambda c: c.post(
                f"/v1/incidents/{incident}/evidence", body, idempotency_key=idempotency_key
            ),
            render.receipt,
        )

    @app.command()
    def commit(
        incident: IncidentArg,
        asset: Annotated[
            list[str] | None, typer.Option("--asset", help="An asset offered; repeatable")
        ] = None,
        decline: Annotated[
            bool, typer.Option("--decline", help="Decline instead of committing")
        ] = False,
        party: Annotated[
            str | None, typer.Option(help="Default: the party of your ally token")
        ] = None,
        rationale: Annotated[str, typer.Option()] = "",
        idempotency_key: Key = None,
        api_url: ApiUrl = DEFAULT_API_URL,
        token: Token = None,
        as_json: Json = False,
    ) -> None:
        """Commit assets to the response for your party (an ally:<party> token), or --decline."""
        body: dict[str, Any] = {
            "answer": "decline" if decline else "commit",
            "assets": asset or [],
            "rationale": rationale,
        }
        if party:
            body["party"] = party
        run(
            api_url,
            token,
            as_json,
            lambda c: c.post(
                f"/v1/incidents/{incident}/commitments", body, idempotency_key=idempotency_key
            ),
            render.receipt,
        )

    @app.command()
    def deploy(
        incident: IncidentArg,
        asset: Annotated[
            list[str],
            typer.Option("--asset", help="An asset committed to this response; repeatable"),
        ],
        withdraw: Annotated[
            bool, typer.Option("--withdraw", help="Report the assets withdrawn, not deployed")
        ] = False,
        party: Annotated[
            str | None, typer.Option(help="Default: the party of your ally token")
        ] = None,
        rationale: Annotated[str, typer.Option()] = "",
        idempotency_key: Key = None,
        api_url: ApiUrl = DEFAULT_API_URL,
        token: Token = None,
        as_json: Json = False,
    ) -> None:
        """After activation: report your party's committed assets deployed, or --withdraw them
        (a withdrawal that breaks the quorum escalates and calls for replacements)."""
        body: dict[str, Any] = {
            "status": "withdrawn" if withdraw else "deployed",
            "assets": asset,
            "rationale": rationale,
        }
        if party:
            body["party"] = party
        run(
            api_url,
            token,
            as_json,
            lambda c: c.post(
                f"/v1/incidents/{incident}/deployments", body, idempotency_key=idempotency_key
            ),
            render.receipt,
        )

    @app.command()
    def decide(
        incident: IncidentArg,
        action: Annotated[
            str,
            typer.Argument(
                help="confirm | authorize | stand_down | reclassify | merge | correct_t0; "
                "terminate | review (active)"
            ),
        ],
        rationale: Annotated[str, typer.Option(help="Why: recorded in the ledger")],
        new_kind: Annotated[str | None, typer.Option(help="reclassify only")] = None,
        into: Annotated[
            str | None,
            typer.Option(help="merge only: the open incident that absorbs this one"),
        ] = None,
        observed_at: Annotated[
            str | None,
            typer.Option(
                help="correct_t0 only: the violation's time, ISO 8601 (UTC if no zone) or a "
                "time ago (-30h)"
            ),
        ] = None,
        idempotency_key: Key = None,
        api_url: ApiUrl = DEFAULT_API_URL,
        token: Token = None,
        as_json: Json = False,
    ) -> None:
        """An operator decision on an incident."""
        body: dict[str, Any] = {"action": action, "rationale": rationale}
        if new_kind:
            body["new_kind"] = new_kind
        if into:
            body["into"] = into
        if observed_at:
            body["observed_at"] = iso_utc(observed_at)
        run(
            api_url,
            token,
            as_json,
            lambda c: c.post(
                f"/v1/incidents/{incident}/decisions", body, idempotency_key=idempotency_key
            ),
            render.receipt,
        )

    @app.command()
    def ack(
        incident: IncidentArg,
        notice_id: Annotated[
            str, typer.Argument(help="The escalation notice (see `contingency show`)")
        ],
        idempotency_key: Key = None,
        api_url: ApiUrl = DEFAULT_API_URL,
        token: Token = None,
        as_json: Json = False,
    ) -> None:
        """Acknowledge an escalation notice for its whole audience: its repeats stop."""
        run(
            api_url,
            token,
            as_json,
            lambda c: c.post(
                f"/v1/incidents/{incident}/acknowledgements",
                {"notice_id": notice_id},
                idempotency_key=idempotency_key,
            ),
            render.receipt,
        )

    @app.command()
    def note(
        incident: IncidentArg,
        text: Annotated[str, typer.Argument(help="What the cell notes (quote it)")],
        handover: Annotated[
            bool, typer.Option("--handover", help="A shift handover rather than a note")
        ] = False,
        idempotency_key: Key = None,
        api_url: ApiUrl = DEFAULT_API_URL,
        token: Token = None,
        as_json: Json = False,
    ) -> None:
        """Write in the cell's journal: in the ledger and on the board; it decides nothing."""
        run(
            api_url,
            token,
            as_json,
            lambda c: c.post(
                f"/v1/incidents/{incident}/notes",
                {"text": text, "kind": "handover" if handover else "note"},
                idempotency_key=idempotency_key,
            ),
            render.receipt,
        )

    @app.command("list")
    def list_incidents(
        kind: Annotated[str | None, typer.Option()] = None,
        phase: Annotated[str | None, typer.Option()] = None,
        outcome: Annotated[str | None, typer.Option()] = None,
        open_: Annotated[bool, typer.Option("--open", help="Open incidents only")] = False,
        closed: Annotated[bool, typer.Option("--closed", help="Closed incidents only")] = False,
        exercise: Annotated[
            bool, typer.Option("--exercise", help="Exercise incidents instead of real ones")
        ] = False,
        limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
        offset: Annotated[int, typer.Option(min=0)] = 0,
        api_url: ApiUrl = DEFAULT_API_URL,
        token: Token = None,
        as_json: Json = False,
    ) -> None:
        """Incidents, most recently observed first."""
        if open_ and closed:
            typer.echo("error: --open and --closed exclude each other", err=True)
            raise typer.Exit(2)
        params = {
            "kind": kind,
            "phase": phase,
            "outcome": outcome,
            "exercise": str(exercise).lower(),
            "status": "open" if open_ else "closed" if closed else None,
            "limit": limit,
            "offset": offset,
        }
        run(api_url, token, as_json, lambda c: c.get("/v1/incidents", params), render.incidents)

    @app.command()
    def ledger(
        incident: IncidentArg,
        api_url: ApiUrl = DEFAULT_API_URL,
        token: Token = None,
        as_json: Json = False,
    ) -> None:
        """The incident's ledger in order, with its hash chain checked."""
        run(
            api_url,
            token,
            as_json,
            lambda c: whole_ledger(c, incident),
            render.ledger,
        )
