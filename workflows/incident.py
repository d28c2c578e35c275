"""The incident workflow: one execution per incident, from the report to its outcome.

The plan's rules live in :mod:`workflows.state`; this class only connects them to Temporal:
durable timers for the deadlines, updates for what people submit, activities for what leaves
the workflow (the ledger, the diplomatic dispatches) and the search attributes operators filter on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows import driver
    from workflows import search_attributes as sa
    from workflows.activity_inputs import (
        DispatchResult,
        DispatchStepInput,
        IncidentSnapshot,
        RecordDecisionsInput,
        RecordDecisionsResult,
    )
    from workflows.clock import TimerTime
    from workflows.details import current_details
    from workflows.messages import (
        AcknowledgeInput,
        Action,
        CommitmentInput,
        DeadlineStatus,
        DecisionInput,
        DecisionReceipt,
        DeploymentInput,
        EvidenceInput,
        IncidentInput,
        IncidentView,
        MergeHandover,
        MergeResult,
        NoteInput,
        Outcome,
        Refusal,
        RefusalReason,
        ViolationReport,
    )
    from workflows.names import (
        ACTIVITY_DISPATCH_STEP,
        ACTIVITY_HAND_OVER,
        ACTIVITY_RECORD_DECISIONS,
        ACTIVITY_SEND_NOTICE,
        CONTINUING_ERROR,
        INCIDENT_WORKFLOW,
        LEDGER_REFUSED,
        MERGE_REFUSED,
        QUERY_STATE,
        REFUSAL_ERROR,
        UPDATE_ABSORB,
        UPDATE_ACKNOWLEDGE,
        UPDATE_COMMITMENT,
        UPDATE_DECISION,
        UPDATE_DEPLOYMENT,
        UPDATE_EVIDENCE,
        UPDATE_JOIN,
        UPDATE_NOTE,
    )
    from workflows.notices import NoticeInput, NoticeKind, NoticeResult
    from workflows.state import Change, IncidentState, Rejected, Rules

# Ledger writes must land, however long the database is away: retry for ever, back off to 30 s.
# A batch the database refuses for good (LedgerRefused) blocks the ledger instead: shown on the
# incident, logged, and tried again every LEDGER_BLOCKED_RETRY, so a repaired database resumes.
LEDGER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=[LEDGER_REFUSED],
)
LEDGER_BLOCKED_RETRY = timedelta(minutes=10)
# Short attempts: a worker that dies mid-write is noticed quickly and the write retried elsewhere.
LEDGER_TIMEOUT = timedelta(seconds=10)
LEDGER_BATCH = 100
# A sink that is down is retried for ever (the diplomacy deadline escalates meanwhile); a sink
# that refuses the message for good raises a non-retryable error and the step is recorded failed.
DISPATCH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=["SinkRejected"],
)
DISPATCH_TIMEOUT = timedelta(seconds=20)
# A notice's activity retries the recipients it has not reached with this backoff, and itself
# gives up on them after the plan's attempts (or the deadline the notice serves): it then
# returns them as undelivered. One attempt reaches every recipient, a dozen at most in parallel.
NOTICE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
)
NOTICE_TIMEOUT = timedelta(seconds=60)
# The activity heartbeats while it sends: a worker that dies mid-send is noticed this soon.
NOTICE_HEARTBEAT = timedelta(seconds=10)

# Behaviour changes that running incidents must not see (replayed histories stay deterministic).
PATCH_EVIDENCE_VERIFIES_PRESUMPTION = "evidence-verifies-presumption"
PATCH_STAND_DOWN_FINISHES_SENT_STEPS = "stand-down-finishes-sent-steps"
# Verdicts at the due instant (a late report's past deadlines are missed), inputs at a due instant
# on time, nothing started after the outcome, dispatch results recorded in plan order, the next
# deadline from the one schedule: see workflows/state.py.
PATCH_DEADLINES_JUDGED_AT_DUE = "deadlines-judged-at-due"
# Bounded incidents: a recent window of decisions held, long text by reference, and a run that
# continues as new before Temporal's limits (workflows/limits.py).
PATCH_BOUNDED = "bounded-incidents"

# Before continuing as new, steps in flight get this long to finish; those still out go back to
# the queue and the next run sends them again (the sink's idempotency key makes that harmless).
DRAIN_DISPATCHES = timedelta(seconds=10)
# How long a hand-over may wait for the ledger to catch up; past it, the run carries on deciding
# (deadlines never wait on a database) and tries again later.
DRAIN_LEDGER = timedelta(minutes=1)
DRAIN_RETRY_AFTER = timedelta(minutes=10)
# The validators apply the text rules (workflows/text.py) to what people submit.
PATCH_TEXT_RULES = "text-rules"
# A ledger batch the database refuses for good blocks the ledger, visibly, instead of failing the
# ledger writer; marked where it first happens, so incidents already running get it too.
PATCH_LEDGER_BLOCKED = "ledger-blocked"
# Decisions sealed in the workflow (chain v2: run id, plan digest) and a cancel from Temporal
# recorded as the outcome `cancelled`: see Rules.sealed_ledger.
PATCH_SEALED_LEDGER = "sealed-ledger"
# The incident tells people: consultation requests and reminders, escalation notices awaiting
# acknowledgement, activation orders and close notices (workflows/communications.py).
PATCH_NOTICES = "notices"
# Timers are never cancelled: one whose moment moved runs out and wakes the loop for nothing. A
# cancel that crosses its timer firing is refused by the time-skipping server, which then never
# hands the task out again (temporalio/sdk-java#3088): exercises and sweeps stalled on it.
PATCH_TIMERS_RUN_OUT = "timers-run-out"

# Under a plan with an after_activation section, activation leaves the response open in phase
# active (deployments, withdrawals, periodic reviews) until terminated or the plan's limit.
PATCH_AFTER_ACTIVATION = "after-activation"

# Reports of one offensive join one response (its sectors; its T0 the earliest observed), and
# the IncidentSectors search attribute lists the sectors.
PATCH_JOINED_REPORTS = "joined-reports"

# An operator folds one open incident into another (merge: a handover activity, an update of
# the absorbing incident) or corrects T0; a report dated beyond the plan's bound holds T0.
PATCH_MERGING = "merging"

# A timer that has fired means its moment has come, even where workflow.now() reads it a
# microsecond short (workflows/clock.py, TimerTime): the loop spun on such a deadline until the
# SDK failed the task as deadlocked.
PATCH_TIMER_MOMENT = "timer-moment"

# The handover of a merge: the absorbing incident answers at once, or refuses for good
# (MERGE_REFUSED); one handing over to its next run is asked again, for a few minutes at most.
HAND_OVER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=20),
    non_retryable_error_types=[MERGE_REFUSED],
)
HAND_OVER_TIMEOUT = timedelta(seconds=30)
HAND_OVER_AT_MOST = timedelta(minutes=5)


def refusal(exc: Rejected) -> ApplicationError:
    """A refused input as Temporal carries it to the caller: the reason in the error's details,
    so a client tells invalid input from a conflict with the incident's state without parsing
    the message."""
    reason = RefusalReason.CONFLICT if exc.conflict else RefusalReason.INVALID
    return ApplicationError(
        str(exc),
        Refusal(field=exc.field, reason=reason),
        type=REFUSAL_ERROR,
        non_retryable=True,
    )


@workflow.defn(name=INCIDENT_WORKFLOW)
class IncidentWorkflow:
    @workflow.init
    def __init__(self, incident: IncidentInput) -> None:
        self._incident = incident
        self._invalid: str | None = None
        # In this order, once per run: a patch marker is a command of the first workflow task.
        rules = Rules(
            evidence_verifies_presumption=workflow.patched(PATCH_EVIDENCE_VERIFIES_PRESUMPTION),
            judged_at_due=workflow.patched(PATCH_DEADLINES_JUDGED_AT_DUE),
            bounded=workflow.patched(PATCH_BOUNDED),
            text_rules=workflow.patched(PATCH_TEXT_RULES),
            sealed_ledger=workflow.patched(PATCH_SEALED_LEDGER),
            notices=workflow.patched(PATCH_NOTICES),
            after_activation=workflow.patched(PATCH_AFTER_ACTIVATION),
            joining=workflow.patched(PATCH_JOINED_REPORTS),
            merging=workflow.patched(PATCH_MERGING),
        )
        self._timers_run_out = workflow.patched(PATCH_TIMERS_RUN_OUT)
        self._timer_moment = workflow.patched(PATCH_TIMER_MOMENT)
        self._time = TimerTime()
        carried = incident.carried
        # Which run of the incident this is; the ledger, its chain and the id go on across runs.
        self._run = 1 if carried is None else carried.run
        # Decisions the ledger holds (a continued run starts with all of its predecessor's).
        self._persisted = 0 if carried is None else carried.seq
        try:
            if carried is None:
                self._state = IncidentState(incident, workflow.now(), rules, workflow.info().run_id)
            else:
                self._state = IncidentState.resume(incident, carried, workflow.info().run_id)
        except Rejected as exc:
            # Raising here would stall the first task for ever; fail the workflow in run() instead.
            self._invalid = str(exc)
            self._state = None  # type: ignore[assignment]
        self._updates = 0  # accepted by this run
        self._draining = False
        self._drain_again_at: datetime | None = None
        self._ledger_problem: str | None = None  # why the database refuses the ledger, if it does
        self._wake = False
        self._published: dict[str, object] = {}
        self._published_at = 0  # decisions count when search attributes and details were last set
        self._dispatches: list[asyncio.Task[None]] = []
        self._dispatch_steps: dict[str, asyncio.Task[None]] = {}
        self._recalled: set[asyncio.Task[None]] = set()  # cancelled by a hand-over, to go again
        self._notices: dict[str, tuple[NoticeInput, asyncio.Task[None]]] = {}
        # Results of the steps are recorded in the order the steps were started (the plan's),
        # whatever order the sink answers in: one scenario, one ledger, row for row.
        self._results_in_plan_order = rules.judged_at_due
        self._timer: asyncio.Task[None] | None = None
        self._timer_at: datetime | None = None
        self._handing_over: asyncio.Task[None] | None = None
        # Why the absorbing incident refused the latest merge (for the merge decision's caller).
        self._merge_refusal: Rejected | None = None

    @workflow.run
    async def run(self, incident: IncidentInput) -> IncidentView:
        if self._invalid is not None:
            raise ApplicationError(self._invalid, type="InvalidIncident", non_retryable=True)
        state = self._state
        ledger = asyncio.create_task(self._write_ledger())
        while True:
            self._time_of_timer()
            driver.advance(state, self._now())
            self._start_dispatches()
            self._start_notices()
            self._start_handover()
            self._publish()
            if not state.is_open:
                break
            try:
                if self._should_continue() and self._handing_over is None:
                    await self._continue_as_new(incident, ledger)
                self._arm_timer()
                self._wake = False
                await workflow.wait_condition(lambda: self._wake or self._timer_fired())
            except asyncio.CancelledError:
                if not state.rules.sealed_ledger:
                    raise
                state.cancel(self._now())

        workflow.logger.info("Incident %s closed: %s", incident.incident_id, state.outcome)
        if self._timer is not None and not self._timers_run_out:
            self._timer.cancel()
        if state.outcome is Outcome.STOOD_DOWN and not workflow.patched(
            PATCH_STAND_DOWN_FINISHES_SENT_STEPS
        ):
            for task in self._dispatches:
                task.cancel()
        # Every other outcome still owes the diplomatic steps it started, however long the sink
        # takes; a stood-down response finishes the steps already handed to the sink (a cancel
        # could not take them back) and sends no other.
        await self._until(lambda: all(task.done() for task in self._dispatches))
        # The activation orders and the close notice go out, and every notice reports back.
        self._start_notices()
        while not self._notices_done():
            await self._until(lambda: bool(state.comms.queue) or self._notices_idle())
            self._start_notices()
        await self._until(lambda: workflow.all_handlers_finished() and self._all_persisted())
        ledger.cancel()
        self._publish()
        return self._view()

    def _view(self) -> IncidentView:
        return self._state.view(self._persisted, self._run, self._ledger_problem)

    # -- from one run to the next -----------------------------------------------------------

    def _should_continue(self) -> bool:
        state, info = self._state, workflow.info()
        if not state.rules.bounded:
            return False
        if self._drain_again_at is not None and self._now() < self._drain_again_at:
            return False
        limits = self._incident.limits
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= limits.history_events
            or self._updates >= limits.updates
        )

    async def _continue_as_new(self, incident: IncidentInput, ledger: asyncio.Task[None]) -> None:
        """Hand the incident to a fresh run before Temporal's limits are near.

        New updates are refused meanwhile with a retryable refusal (the API retries them against
        the next run); the steps in flight finish or go back to the queue; the ledger catches
        up and every accepted update has answered. Returns only if the ledger could not catch up
        in time: the run then carries on and tries again later.
        """
        state = self._state
        self._draining = True
        workflow.logger.info(
            "Incident %s: run %d hands over at seq %d", incident.incident_id, self._run, state.seq
        )
        unfinished: list[str] = []

        def call_off() -> None:
            # The recalled steps go out again from this run, which carries on deciding.
            state.dispatch_queue[:0] = unfinished
            self._forget_dispatches(unfinished)
            self._forget_notices()
            self._draining = False

        try:
            try:
                await self._wait_at_most(
                    lambda: all(task.done() for task in self._dispatches) and self._notices_idle(),
                    DRAIN_DISPATCHES,
                    "Hand-over: steps in flight finish",
                )
            except TimeoutError:
                pass
            unfinished = [step for step, task in self._dispatch_steps.items() if not task.done()]
            for step in unfinished:
                self._recalled.add(self._dispatch_steps[step])
                self._dispatch_steps[step].cancel()
            # Notices still out go to the next run with their ids: a recipient already reached
            # is not reached twice (the outbox knows the id).
            for notice, task in self._notices.values():
                if not task.done():
                    self._recalled.add(task)
                    task.cancel()
                    state.comms.queue.insert(0, notice)
            await self._wait_at_most(
                lambda: self._all_persisted() and workflow.all_handlers_finished(),
                DRAIN_LEDGER,
                "Hand-over: the ledger catches up",
            )
        except TimeoutError:
            workflow.logger.warning(
                "Incident %s: the ledger is behind; the hand-over waits", incident.incident_id
            )
            call_off()
            self._drain_again_at = self._now() + DRAIN_RETRY_AFTER
            return
        except asyncio.CancelledError:  # cancelled from Temporal mid-drain: the run closes it
            call_off()
            raise
        state.dispatch_queue[:0] = unfinished
        ledger.cancel()
        workflow.continue_as_new(replace(incident, carried=state.carry(self._run + 1)))

    async def _wait_at_most(
        self, done: Callable[[], bool], timeout: timedelta, summary: str
    ) -> None:
        """``wait_condition`` with a timeout, whose timer runs out instead of being cancelled
        when the condition comes first (PATCH_TIMERS_RUN_OUT); raises TimeoutError likewise."""
        if not self._timers_run_out:
            await workflow.wait_condition(done, timeout=timeout)
            return
        if done():
            return
        timer = asyncio.create_task(workflow.sleep(timeout, summary=summary))
        await workflow.wait_condition(lambda: done() or timer.done())
        if not done():
            raise TimeoutError(summary)

    async def _until(self, done: Callable[[], bool]) -> None:
        """Wait while the incident finishes; a cancel from Temporal now comes after the outcome
        and changes nothing, so the ledger and the steps still complete."""
        while True:
            try:
                return await workflow.wait_condition(done)
            except asyncio.CancelledError:
                if not self._state.rules.sealed_ledger:
                    raise

    def _arm_timer(self) -> None:
        """One durable timer, for the next moment the plan needs the workflow awake.

        The timer survives the wake-ups that updates cause and is replaced only when the next
        moment changes (a reclassification, a deadline passing), so the history holds one timer
        per deadline, each named for it in the UI. A moment that moves later keeps the pending
        timer (it wakes the loop early, which then arms the next one); one that moves earlier
        starts a new timer and leaves the old to run out (PATCH_TIMERS_RUN_OUT).
        """
        wake_at = self._state.next_event_at()
        assert wake_at is not None  # an open incident always has its window closing ahead
        if wake_at == self._timer_at:
            return
        if self._timer is not None and not self._timer.done():
            if self._timers_run_out:
                assert self._timer_at is not None
                if wake_at > self._timer_at:
                    return
            else:
                self._timer.cancel()
        self._timer_at = wake_at
        self._timer = asyncio.create_task(
            workflow.sleep(
                max(wake_at - self._now(), timedelta(0)), summary=self._state.next_event_label()
            )
        )

    def _timer_fired(self) -> bool:
        return self._timer is not None and self._timer.done()

    def _time_of_timer(self) -> None:
        if self._timer_moment and self._timer_fired() and self._timer_at is not None:
            self._time.fired(self._timer_at, workflow.now())

    def _now(self) -> datetime:
        """The incident's time: the workflow's, never before a fired timer's moment."""
        return self._time.now(workflow.now())

    # -- what people submit -----------------------------------------------------------------

    @workflow.update(name=UPDATE_EVIDENCE)
    async def submit_evidence(self, evidence: EvidenceInput) -> DecisionReceipt:
        return await self._apply(lambda s, now: s.add_evidence(evidence, now), "evidence accepted")

    @submit_evidence.validator
    def _validate_evidence(self, evidence: EvidenceInput) -> None:
        self._check(
            lambda s, now: s.add_evidence(evidence, now), lambda s: s.check_evidence(evidence)
        )

    @workflow.update(name=UPDATE_COMMITMENT)
    async def submit_commitment(self, commitment: CommitmentInput) -> DecisionReceipt:
        return await self._apply(
            lambda s, now: s.add_commitment(commitment, now),
            f"{commitment.party}: {commitment.answer}",
        )

    @submit_commitment.validator
    def _validate_commitment(self, commitment: CommitmentInput) -> None:
        self._check(
            lambda s, now: s.add_commitment(commitment, now),
            lambda s: s.check_commitment(commitment),
        )

    @workflow.update(name=UPDATE_DECISION)
    async def submit_decision(self, decision: DecisionInput) -> DecisionReceipt:
        receipt = await self._apply(
            lambda s, now: s.decide(decision, now), f"{decision.action} accepted"
        )
        if decision.action is not Action.MERGE or self._state.handover is None:
            return receipt
        # A merge answers once the absorbing incident has taken the handover, or refused it.
        await workflow.wait_condition(lambda: self._state.handover is None)
        await workflow.wait_condition(self._all_persisted)
        refused, self._merge_refusal = self._merge_refusal, None
        if refused is not None:
            raise refusal(refused)
        state = self._state
        return replace(
            receipt,
            decisions=(*receipt.decisions, str(state.outcome)),
            phase=state.phase(),
            outcome=state.outcome,
            message=f"merged into {decision.into}",
        )

    @submit_decision.validator
    def _validate_decision(self, decision: DecisionInput) -> None:
        self._check(
            lambda s, now: s.decide(decision, now),
            lambda s: s.check_decision(decision, self._now()),
        )

    @workflow.update(name=UPDATE_ABSORB)
    async def absorb_incident(self, handover: MergeHandover) -> MergeResult:
        await self._apply(
            lambda s, now: s.absorb(handover, now), f"incident {handover.incident_id} absorbed"
        )
        state = self._state
        return MergeResult(
            into=self._incident.incident_id,
            seq=state.seq,
            t0=state.clock.t0,
            sectors=tuple(state.sectors),
            reports=len(state.report_ids),
        )

    @absorb_incident.validator
    def _validate_absorb(self, handover: MergeHandover) -> None:
        self._check(lambda s, now: s.absorb(handover, now), lambda s: s.check_absorb(handover))

    @workflow.update(name=UPDATE_JOIN)
    async def join_report(self, report: ViolationReport) -> DecisionReceipt:
        return await self._apply(
            lambda s, now: s.join_report(report, now), f"report {report.report_id} joined"
        )

    @join_report.validator
    def _validate_join(self, report: ViolationReport) -> None:
        self._check(
            lambda s, now: s.join_report(report, now),
            lambda s: s.check_join(report, self._now()),
        )

    @workflow.update(name=UPDATE_DEPLOYMENT)
    async def report_deployment(self, report: DeploymentInput) -> DecisionReceipt:
        return await self._apply(
            lambda s, now: s.report_deployment(report, now), f"{report.party}: {report.status}"
        )

    @report_deployment.validator
    def _validate_deployment(self, report: DeploymentInput) -> None:
        self._check(
            lambda s, now: s.report_deployment(report, now),
            lambda s: s.check_deployment(report),
        )

    @workflow.update(name=UPDATE_ACKNOWLEDGE)
    async def acknowledge(self, ack: AcknowledgeInput) -> DecisionReceipt:
        return await self._apply(lambda s, now: s.acknowledge(ack, now), "acknowledged")

    @acknowledge.validator
    def _validate_acknowledge(self, ack: AcknowledgeInput) -> None:
        if self._state is not None and not self._state.rules.notices:
            raise refusal(Rejected("this incident sends no notices to acknowledge", conflict=True))
        self._check(lambda s, now: s.acknowledge(ack, now), lambda s: s.check_acknowledge(ack))

    @workflow.update(name=UPDATE_NOTE)
    async def add_note(self, note: NoteInput) -> DecisionReceipt:
        return await self._apply(lambda s, now: s.add_note(note, now), f"{note.kind} recorded")

    @add_note.validator
    def _validate_note(self, note: NoteInput) -> None:
        self._check(lambda s, now: s.add_note(note, now), lambda s: s.check_note(note))

    @workflow.query(name=QUERY_STATE)
    def state(self) -> IncidentView:
        if self._state is None:
            raise ApplicationError(self._invalid or "incident not started", type="InvalidIncident")
        return self._view()

    def _check(self, change: Change, check: Callable[[IncidentState], None]) -> None:
        """A validator: ``check`` on the state as the input will find it (what falls due first
        has fired there); a refusal never reaches the history."""
        if self._state is None:
            raise ApplicationError(self._invalid or "incident not started", type=REFUSAL_ERROR)
        if self._draining:
            raise ApplicationError(
                "the incident is handing over to its next run; retry in a moment",
                type=CONTINUING_ERROR,
            )
        if self._ledger_problem is not None:
            # Accepted, the input would wait for ever on its ledger write: refused until repaired.
            raise refusal(
                Rejected(
                    f"the ledger is blocked ({self._ledger_problem}); no input is accepted "
                    "until the database records the incident's decisions again",
                    conflict=True,
                )
            )
        try:
            driver.validate(self._state, self._now(), change, check)
        except Rejected as exc:
            raise refusal(exc) from None

    async def _apply(self, change: Change, message: str) -> DecisionReceipt:
        state = self._state
        self._updates += 1
        try:
            # Deadlines due by now come first, whatever order Temporal delivered the jobs in.
            recorded = driver.apply(state, self._now(), change)
        except Rejected as exc:  # the validator passed, but a deadline fell due in between
            raise refusal(exc) from exc
        self._wake = True
        last = state.seq
        # Answer only once the decision is in the ledger: an accepted update is an audited one.
        await workflow.wait_condition(lambda: self._persisted >= last)
        return DecisionReceipt(
            incident_id=self._incident.incident_id,
            # Nothing recorded: an input taken before (a report joined, a merge absorbed).
            seq=recorded[0].seq if recorded else state.seq,
            decisions=tuple(d.kind for d in recorded),
            phase=state.phase(),
            outcome=state.outcome,
            escalation_level=state.escalation_level,
            message=message,
        )

    # -- what leaves the workflow -----------------------------------------------------------

    def _all_persisted(self) -> bool:
        return self._persisted >= self._state.seq

    async def _write_ledger(self) -> None:
        """Persist decisions in order, in batches, without ever holding up the deadlines."""
        state = self._state
        while True:
            await workflow.wait_condition(lambda: not self._all_persisted())
            batch = state.unrecorded(self._persisted, LEDGER_BATCH)
            # No `summary=`: the batch in the input already says what is written, and the SDK
            # (1.35) converts every payload of an activity command with a serialization context
            # of its own; a summary on each ledger write cost ~15 % of an exercise's wall time.
            try:
                await workflow.execute_activity(
                    ACTIVITY_RECORD_DECISIONS,
                    RecordDecisionsInput(incident=self._snapshot(), decisions=batch),
                    result_type=RecordDecisionsResult,
                    start_to_close_timeout=LEDGER_TIMEOUT,
                    retry_policy=LEDGER_RETRY,
                )
            except ActivityError as exc:
                if not self._ledger_blocked(exc):
                    raise
                await workflow.sleep(LEDGER_BLOCKED_RETRY, summary="Ledger blocked: write again")
                continue
            self._ledger_unblocked()
            self._persisted += len(batch)
            if state.rules.bounded:
                state.forget_through(self._persisted)

    def _ledger_blocked(self, exc: ActivityError) -> bool:
        """Whether the write failed because the database refused the batch for good; if so the
        incident shows it (query, current details), the log says it, and the validators refuse
        new input until a write lands again."""
        cause = exc.cause
        refused = isinstance(cause, ApplicationError) and cause.type == LEDGER_REFUSED
        if not refused or not workflow.patched(PATCH_LEDGER_BLOCKED):
            return False
        assert isinstance(cause, ApplicationError)
        self._ledger_problem = cause.message
        workflow.logger.error(
            "LEDGER BLOCKED for incident %s: %s", self._incident.incident_id, cause.message
        )
        workflow.set_current_details(current_details(self._view()))
        return True

    def _ledger_unblocked(self) -> None:
        if self._ledger_problem is None:
            return
        self._ledger_problem = None
        workflow.logger.warning("Ledger of incident %s unblocked", self._incident.incident_id)
        workflow.set_current_details(current_details(self._view()))

    def _start_dispatches(self) -> None:
        while self._state.dispatch_queue:
            step = self._state.dispatch_queue.pop(0)
            before = self._dispatches[-1] if self._dispatches else None
            task = asyncio.create_task(self._dispatch(step, self._state.seq, before))
            self._dispatches.append(task)
            self._dispatch_steps[step] = task

    def _forget_dispatches(self, steps: list[str]) -> None:
        """Steps cancelled by a hand-over that did not happen: started again by the loop."""
        for step in steps:
            self._dispatches.remove(self._dispatch_steps.pop(step))

    async def _dispatch(self, step: str, after_seq: int, before: asyncio.Task[None] | None) -> None:
        state = self._state
        result = await self._send(step, after_seq)
        if result is None and asyncio.current_task() in self._recalled:
            return  # recalled by a hand-over: the step goes out again, from the next run
        if self._results_in_plan_order and before is not None:
            # Held until the step started before this one has recorded its own result.
            await workflow.wait_condition(before.done)
        driver.record_dispatch(state, self._now(), step, result)
        self._wake = True

    async def _send(self, step: str, after_seq: int) -> DispatchResult | str | None:
        """The step handed to the sink: its result, the sink's refusal, or None if it never went."""
        state = self._state
        title = state.plan.step(step).title
        try:
            # The ledger shows why a step went out before it shows that it went out.
            await workflow.wait_condition(lambda: self._persisted >= after_seq)
            if state.outcome is Outcome.CANCELLED or (
                state.outcome is Outcome.STOOD_DOWN
                and workflow.patched(PATCH_STAND_DOWN_FINISHES_SENT_STEPS)
            ):
                return None
            return await workflow.execute_activity(
                ACTIVITY_DISPATCH_STEP,
                DispatchStepInput(
                    incident_id=self._incident.incident_id,
                    workflow_id=workflow.info().workflow_id,
                    step=step,
                    title=title,
                    kind=state.kind,
                    sector=self._incident.report.sector,
                    t0=state.clock.t0,
                    escalation_level=state.escalation_level,
                    exercise=self._incident.exercise,
                ),
                result_type=DispatchResult,
                start_to_close_timeout=DISPATCH_TIMEOUT,
                retry_policy=DISPATCH_RETRY,
                summary=f"Dispatch {title}",
            )
        except ActivityError as exc:
            return str(exc.cause or exc)
        except asyncio.CancelledError:
            return None

    def _start_handover(self) -> None:
        handover = self._state.handover
        if handover is None or self._handing_over is not None:
            return
        self._handing_over = asyncio.create_task(self._hand_over(handover))

    async def _hand_over(self, handover: MergeHandover) -> None:
        """A merge: the content goes to the absorbing incident, whose answer closes this one
        (merged) or leaves it open (merge_refused)."""
        state = self._state
        # The ledger shows the merge decision before the absorbing incident shows the merge.
        await workflow.wait_condition(lambda: self._persisted >= handover.seq)
        try:
            result = await workflow.execute_activity(
                ACTIVITY_HAND_OVER,
                handover,
                result_type=MergeResult,
                start_to_close_timeout=HAND_OVER_TIMEOUT,
                schedule_to_close_timeout=HAND_OVER_AT_MOST,
                retry_policy=HAND_OVER_RETRY,
                summary=f"Hand over to incident {handover.into}",
            )
        except ActivityError as exc:
            cause = exc.cause
            reason, field = "unreachable", "into"
            if isinstance(cause, ApplicationError) and cause.type == MERGE_REFUSED:
                details = cause.details[0] if cause.details else {}
                if isinstance(details, dict):
                    reason = str(details.get("reason") or reason)
                    field = details.get("field") or field
            message = str(cause.message if isinstance(cause, ApplicationError) else exc)
            self._merge_refusal = Rejected(
                f"incident {handover.into} refused the merge: {message}",
                field=field,
                conflict=reason != "invalid",
            )
            driver.apply(state, self._now(), lambda s, now: s.merge_refused(reason, message, now))
        else:
            driver.apply(state, self._now(), lambda s, now: s.merge_done(result, now))
        self._handing_over = None
        self._wake = True

    def _start_notices(self) -> None:
        for notice in self._state.take_notices():
            # Recorded after what was started before it (the steps, the previous notice), so one
            # scenario gives one ledger, row for row; a step never waits on a notice.
            before = [*self._dispatches, *(t for _, t in self._notices.values())]
            task = asyncio.create_task(self._notify(notice, self._state.seq, before))
            self._notices[notice.notice_id] = (notice, task)

    def _notices_idle(self) -> bool:
        return all(task.done() for _, task in self._notices.values())

    def _notices_done(self) -> bool:
        return not self._state.comms.queue and self._notices_idle()

    def _forget_notices(self) -> None:
        """Notices recalled by a hand-over that did not happen: sent again by this run."""
        for notice_id in [i for i, (_, t) in self._notices.items() if t in self._recalled]:
            del self._notices[notice_id]

    async def _notify(
        self, notice: NoticeInput, after_seq: int, before: list[asyncio.Task[None]]
    ) -> None:
        """One notice to all of its recipients; its result goes to the ledger. The deadlines do
        not wait on it: a channel down for hours only delays this task."""
        state = self._state
        try:
            # The ledger shows why a notice went out before it shows that it went out.
            await workflow.wait_condition(lambda: self._persisted >= after_seq)
            result = await workflow.execute_activity(
                ACTIVITY_SEND_NOTICE,
                notice,
                result_type=NoticeResult,
                start_to_close_timeout=NOTICE_TIMEOUT,
                heartbeat_timeout=NOTICE_HEARTBEAT,
                retry_policy=NOTICE_RETRY,
                summary=_notice_summary(notice),
            )
            outcome: NoticeResult | str = result
        except ActivityError as exc:
            outcome = str(exc.cause or exc)
        except asyncio.CancelledError:
            if asyncio.current_task() in self._recalled:
                return  # recalled by a hand-over: the notice goes out from the next run
            raise
        await workflow.wait_condition(lambda: all(task.done() for task in before))

        driver.record_notice(state, self._now(), notice, outcome)
        self._wake = True

    def _snapshot(self) -> IncidentSnapshot:
        return replace(self._state.snapshot(), run_id=workflow.info().run_id)

    def _publish(self) -> None:
        """Keep search attributes and current details in step with the state, writing only changes."""
        state = self._state
        # Every change of state records a decision: between two decisions there is nothing new
        # to show, and the wake-ups in between need not build the view.
        if state.seq == self._published_at:
            return
        self._published_at = state.seq
        view = self._view()
        if state.rules.judged_at_due:
            next_deadline = view.schedule[0].due_at if view.schedule else None
        else:  # what NextDeadline meant before: the earliest pending deadline
            pending = [d.due_at for d in view.deadlines if d.status is DeadlineStatus.PENDING]
            next_deadline = min(pending, default=None)
        values: dict[str, object] = {
            sa.INCIDENT_KIND.name: state.kind,
            sa.INCIDENT_PHASE.name: str(view.phase),
            sa.INCIDENT_OUTCOME.name: str(view.outcome) if view.outcome else None,
            sa.INCIDENT_SECTOR.name: view.sector,
            sa.AWAITING.name: str(view.awaiting),
            sa.PLAN_ID.name: view.plan_id,
            sa.ESCALATION_LEVEL.name: view.escalation_level,
            sa.NEXT_DEADLINE.name: next_deadline,
            sa.EXERCISE.name: view.exercise,
        }
        if state.rules.joining:
            values[sa.INCIDENT_SECTORS.name] = list(view.sectors)
        if state.rules.notices:
            values[sa.AWAITS.name] = [str(view.awaiting)] + [
                f"acknowledgement:level-{a.level}" for a in view.awaiting_ack
            ]
        changed = {k: v for k, v in values.items() if self._published.get(k) != v}
        if changed:
            keys = {key.name: key for key in sa.ALL}
            updates: list[SearchAttributeUpdate] = [
                keys[name].value_unset() if value is None else keys[name].value_set(value)  # type: ignore[attr-defined]
                for name, value in changed.items()
            ]
            workflow.upsert_search_attributes(updates)
            self._published.update(changed)
        workflow.set_current_details(current_details(view))


def _notice_summary(notice: NoticeInput) -> str:
    """The activity's name in the Web UI: what is said, to whom."""
    what = {
        NoticeKind.CONSULTATION_REQUEST: "Ask the parties",
        NoticeKind.REMINDER: "Remind the parties",
        NoticeKind.ESCALATION: f"Page level {notice.facts.escalation_level}",
        NoticeKind.ACTIVATION_ORDER: "Order the committed parties",
        NoticeKind.CLOSE: "Tell everyone engaged: closed",
        NoticeKind.CALL_FOR_REPLACEMENT: "Call the parties not committed for replacements",
    }[notice.notice_kind]
    if notice.facts.repeat:
        what += f" (repeat {notice.facts.repeat})"
    return f"{what}: {len(notice.addressees)} audience(s)"
