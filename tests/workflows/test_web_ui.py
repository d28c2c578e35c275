"""What an operator sees of an incident in the Temporal Web UI, read back through the client the
UI itself uses: readable ids, summaries, current details, named timers and activities, search
attributes, and docs/operators.md's visibility queries (through the SDK and the real `temporal` CLI)."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.converter import DataConverter

from tests.scene import Scene, wait_for
from workflows import search_attributes as sa
from workflows.incident import IncidentWorkflow
from workflows.servers import binary

# The queries docs/operators.md's "Operators: Temporal Web UI queries" section shows, and which of the
# scene's incidents each must return.
DOCUMENTED_QUERIES = {
    'IncidentPhase = "consultation" AND EscalationLevel >= 2': {"consultation"},
    'IncidentAwaiting = "allies"': {"consultation"},
    'IncidentAwaiting = "evidence"': {"fresh", "drill"},
    'Exercise = false AND IncidentAwaiting IN ("evidence", "operator")': {"fresh"},
    'Exercise = false AND ExecutionStatus = "Running"': {"consultation", "fresh"},
    "Exercise = true": {"drill"},
    'IncidentOutcome = "not_activated" OR IncidentOutcome = "unverified_closed"': {"closed"},
    'IncidentSector = "Zaporizhzhia"': {"consultation"},
    'IncidentSectors = "Zaporizhzhia"': {"consultation"},
    'IncidentKind = "large_scale_offensive" AND ExecutionStatus = "Running"': {
        "consultation",
        "fresh",
    },
}


def decode(payload) -> str:
    return DataConverter.default.payload_converter.from_payload(payload, str)


async def test_workflow_ids_summary_and_details_describe_the_incident(scene: Scene) -> None:
    handle = scene.handles["consultation"]
    assert re.fullmatch(r"incident-zaporizhzhia-[0-9a-f]{8}", handle.id)
    assert re.fullmatch(r"incident-exercise-kharkiv-[0-9a-f]{8}", scene.wid("drill"))

    description = await handle.describe()
    summary = await description.static_summary()
    details = await description.static_details()
    assert summary == "large_scale_offensive in Zaporizhzhia, reported by ua-general-staff"
    assert (
        "| T0 (observed) |" in details
        and "| Activation deadline |" in details
        and "(T0+72h)" in details
    )
    assert (await (await scene.handles["drill"].describe()).static_summary()).startswith(
        "EXERCISE · "
    )

    # The UI's "current details" pane: the SDK answers the built-in metadata query with them.
    metadata = await handle.query("__temporal_workflow_metadata")
    current = metadata.current_details
    assert "phase **consultation**" in current and "escalation level **2**" in current
    assert "| Deadline | Due | Status |" in current
    assert re.search(
        r"\| Allied consultation quorum \| T0\+24h · \d{4}-\d\d-\d\d \d\d:\d\d UTC \| ❌ missed \|",
        current,
    ), current
    assert "Quorum: 0/3 committed" in current


async def test_timers_and_activities_carry_summaries(scene: Scene) -> None:
    timers, activities = [], []
    async for event in scene.handles["consultation"].fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            timers.append(decode(event.user_metadata.summary))
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            metadata = event.user_metadata
            summary = decode(metadata.summary) if metadata.HasField("summary") else ""
            activities.append((attributes.activity_type.name, summary))
    assert timers and all(re.search(r"T0\+\d+h", summary) for summary in timers), timers
    assert ("dispatch_step", "Dispatch Démarche to the violating party") in activities, activities
    # Ledger writes go without one: their input is the batch itself (and a summary costs time).
    assert {summary for name, summary in activities if name == "record_decisions"} == {""}, (
        activities
    )


async def test_search_attributes_follow_the_state(scene: Scene) -> None:
    expected = {
        "consultation": {
            sa.INCIDENT_PHASE: "consultation",
            sa.AWAITING: "allies",
            sa.ESCALATION_LEVEL: 2,
            sa.EXERCISE: False,
            sa.INCIDENT_SECTOR: "Zaporizhzhia",
            sa.PLAN_ID: "allied-72h",
        },
        "fresh": {
            sa.INCIDENT_PHASE: "verification",
            sa.AWAITING: "evidence",
            sa.ESCALATION_LEVEL: 1,
            sa.INCIDENT_KIND: "large_scale_offensive",
        },
        "drill": {sa.EXERCISE: True, sa.INCIDENT_KIND: "limited_incursion"},
        "closed": {sa.INCIDENT_PHASE: "closed", sa.AWAITING: "none", sa.EXERCISE: False},
    }
    for name, attributes in expected.items():
        description = await scene.handles[name].describe()
        typed = description.typed_search_attributes
        assert {key: typed.get(key) for key in attributes} == attributes, name
    running = (await scene.handles["consultation"].describe()).typed_search_attributes
    view = await scene.handles["consultation"].query(IncidentWorkflow.state)
    assert view.schedule, "an open incident always has something falling due"
    assert running.get(sa.NEXT_DEADLINE) == view.schedule[0].due_at
    closed = await scene.handles["closed"].describe()
    assert closed.status is WorkflowExecutionStatus.COMPLETED
    assert closed.typed_search_attributes.get(sa.INCIDENT_OUTCOME) in (
        "not_activated",
        "unverified_closed",
    )
    assert closed.typed_search_attributes.get(sa.NEXT_DEADLINE) is None


def scoped(query: str, scene: Scene) -> str:
    """The docs/operators.md query, limited to this module's task queue (the dev server is shared)."""
    return f'({query}) AND TaskQueue = "{scene.task_queue}"'


@pytest.mark.parametrize("query", list(DOCUMENTED_QUERIES))
async def test_documented_queries_through_the_client(scene: Scene, query: str) -> None:
    wanted = {scene.wid(name) for name in DOCUMENTED_QUERIES[query]}

    async def listed() -> set[str] | None:
        found = {
            execution.id async for execution in scene.client.list_workflows(scoped(query, scene))
        }
        return found if found == wanted else None

    await wait_for(listed, what=f"{query} -> {sorted(wanted)}")


async def test_deadline_within_the_next_hours(scene: Scene) -> None:
    """`NextDeadline < "<time>"`: what falls due soon (the fresh incident's verification at T0+12h,
    the late one's authorization at T0+60h, 30 h from now), not what is further out."""
    soon = (datetime.now(UTC) + timedelta(hours=36)).strftime("%Y-%m-%dT%H:%M:%SZ")
    query = scoped(f'Exercise = false AND NextDeadline < "{soon}"', scene)

    async def listed() -> set[str] | None:
        found = {execution.id async for execution in scene.client.list_workflows(query)}
        return found if found == {scene.wid("consultation"), scene.wid("fresh")} else None

    await wait_for(listed, what=query)


async def test_documented_queries_through_the_temporal_cli(scene: Scene) -> None:
    address = scene.client.service_client.config.target_host
    for query, names in DOCUMENTED_QUERIES.items():
        wanted = {scene.wid(name) for name in names}

        async def listed(query: str = query, wanted: set[str] = wanted) -> set[str] | None:
            process = await asyncio.create_subprocess_exec(
                binary("temporal"), "workflow", "list", "--address", address, "--namespace", "default",
                "--query", scoped(query, scene), "--output", "json",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await process.communicate()
            assert process.returncode == 0, err.decode()
            rows = json.loads(out or b"[]")
            found = {row["execution"]["workflowId"] for row in rows}
            return found if found == wanted else None

        await wait_for(listed, what=f"temporal workflow list --query '{query}'")


def test_every_query_the_docs_show_is_run_here() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "operators.md").read_text()
    block = docs.split("```text\n", 1)[1].split("```", 1)[0]
    shown = {line.split("  #")[0].strip() for line in block.splitlines() if line.strip()}
    # NextDeadline's query carries a date of its own: test_deadline_within_the_next_hours runs it.
    assert shown - set(DOCUMENTED_QUERIES) == {
        'Exercise = false AND NextDeadline < "2026-04-13T12:00:00Z"'
    }
