"""Deadline arithmetic anchored to T0, the violation's observed time.

A compressed clock (``time_scale`` plan hours per real hour) lets an exercise run the very same
plan in minutes: every due time shrinks by the same factor, and reports convert back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class PlanClock:
    t0: datetime
    time_scale: float = 1.0

    # The plan's few offsets, each turned into a time once: the state machine asks for them at
    # every step (hundreds of times in one run of a sweep). Not part of the clock's identity.
    _times: dict[float, datetime] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.time_scale <= 0:
            raise ValueError("time_scale must be positive")

    def at(self, hours: float) -> datetime:
        """The absolute time of T0 + ``hours`` plan hours."""
        moment = self._times.get(hours)
        if moment is None:
            moment = self._times[hours] = self.t0 + timedelta(hours=hours / self.time_scale)
        return moment

    def hours_since_t0(self, moment: datetime) -> float:
        """Plan hours from T0 to ``moment`` (negative before T0), rounded to the second."""
        return round((moment - self.t0).total_seconds() * self.time_scale / 3600, 4)

    def scaled(self, span: timedelta) -> timedelta:
        """A span of plan time as it passes on this clock."""
        return span / self.time_scale

    def remaining(self, hours: float, now: datetime) -> timedelta:
        return self.at(hours) - now


def format_offset(hours: float) -> str:
    """``12.0`` -> ``T0+12h``; ``0.5`` -> ``T0+30m``."""
    if hours == int(hours):
        return f"T0+{int(hours)}h"
    minutes = round(hours * 60)
    h, m = divmod(minutes, 60)
    return f"T0+{h}h{m:02d}m" if h else f"T0+{m}m"


# The most a fired timer's moment may be ahead of the time read: the float's error, not more.
CLOCK_SLACK = timedelta(milliseconds=1)


class TimerTime:
    """The incident's time inside the workflow: the time read, never before a fired timer's
    moment.

    The SDK reads an activation's time through a float (``workflow.now()``). A century ahead,
    where a time-skipping server's clock gets to after a long sweep, most millisecond instants
    read a microsecond short; a timer that fired on the very millisecond of its moment then
    found its deadline not yet due. Only a reading within :data:`CLOCK_SLACK` of the moment is
    raised to it: that is the float's error, anything more is real time.
    """

    def __init__(self) -> None:
        self.floor: datetime | None = None

    def fired(self, moment: datetime, read: datetime) -> None:
        """The timer for ``moment`` has fired; ``read`` is what the clock says."""
        if moment - CLOCK_SLACK <= read and (self.floor is None or self.floor < moment):
            self.floor = moment

    def now(self, read: datetime) -> datetime:
        floor = self.floor
        return floor if floor is not None and read < floor else read
