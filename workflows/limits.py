"""How much of an incident the workflow holds, and when a run hands over to the next.

Temporal bounds every execution: a payload (an update's argument, the query's answer, the input
of the next run) warns at 256 KB and fails at 2 MB, an execution takes at most 2,000 updates,
and a history warns at 10,240 events. A real offensive brings thousands of inputs over days, so
the workflow holds only what it needs to decide, bulky text lives in the database (the workflow
keeps its digest), and a run continues as new well before any of those limits.
"""

from dataclasses import dataclass

# Decisions the workflow keeps once the ledger holds them: the query's recent timeline. The
# whole timeline is paged from the ledger.
RECENT_DECISIONS = 20
# Changes of phase kept for the views: the first and the latest (an ally changing its answer
# back and forth would otherwise grow the list without bound).
PHASE_CHANGES = 64
# Distinct evidence sources one incident accepts: two verify a violation; hundreds are noise,
# and each is part of the state every run carries.
MAX_SOURCES = 200
# Reports one response gathers (each is a sector, a reporter, a report id carried run to run):
# a large offensive is reported from a few dozen sectors, not thousands.
MAX_REPORTS = 200
# Free text travels in the workflow up to this many characters; longer text is stored in the
# database by the API and the workflow carries its first characters and its digest.
TEXT_IN_WORKFLOW = 280


@dataclass(frozen=True)
class RunLimits:
    """When a run continues as new: the first of these reached, or Temporal's own suggestion
    (the time-skipping test server never suggests). Pinned in the input, so a test can lower
    them; defaults stay far below Temporal's limits (10,240 events warned, 2,000 updates), and a
    run's history small enough (about 700 KB) that a worker taking it over after a crash replays
    it well within a workflow task's timeout, even on a loaded machine."""

    history_events: int = 2_000
    updates: int = 500
