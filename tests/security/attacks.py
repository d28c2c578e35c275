"""A seeded generator of hostile but plausible traffic against the HTTP API, each request with
the answer it must get.

The traffic is a list of :class:`Script`: what one client does in order (open an incident, post
to it, replay, race, stand it down, post after the close). A script never depends on another,
so any number of clients can run scripts at once and each request's expectation still holds.
Every text field is fuzzed: non-ASCII (Cyrillic, Arabic, emoji), control characters (NUL, ESC,
C1, DEL), bidi overrides and isolates, lone surrogates (sent as JSON ``\\ud800`` escapes), CRLF,
NFD, oversize strings and bodies.

An expectation is a class (``2xx``, ``4xx``, or ``either`` where the incident's state decides),
optionally narrowed to the exact refusals allowed. What is wrong with an answer is judged by
``tests.security.attack_client``.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from workflows.text import REPORT_ID, SECTOR, SOURCE, normalise

INCIDENT = "{incident}"  # in a path: the incident the script's report opened
ALLIES = ("uk", "us", "pl", "fr")  # the ally tokens the stack is given (tests/api ROLES)
ROLES = ("reporter", "observer", "operator", *(f"ally:{party}" for party in ALLIES))
BAD_TOKEN = "bad-token"  # a role name the driver answers with a token that does not exist
MAX_BODY_BYTES = 64 * 1024
# A run this large also floods one incident with more updates than one Temporal run takes.
FLOOD_FROM = 10_000
FLOOD_POSTS = 2_100
FLOOD_WIDTH = 8

CYRILLIC = "АБВГҐДЕЄЖЗИІЇЙКЛМНОПРСТУФХЦЧШЩЬЮЯабвгґдеєжзиіїйклмнопрстуфхцчшщьюя"
ARABIC = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
EMOJI = "🛰🚀🪖🛡📡🔥✈⚓🇺🇦"
LATIN = "abcdefghijklmnopqrstuvwxyz0123456789-"
# NFD: each becomes one character under NFC, which is how it is stored.
DECOMPOSED = ("Kyi\u0308v", "Ode\u0301sa", "Lviv\u0306", "e\u0301")
# What a label must refuse, by name (the attack class a wrong answer is counted under).
LABEL_POISON = {
    "nul": "\x00",
    "esc": "\x1b[2J",
    "c1-nel": "\x85",
    "c1-csi": "\x9b",
    "del": "\x7f",
    "tab": "\t",
    "lf": "\n",
    "crlf": "\r\n",
    "line-separator": "\u2028",
    "bidi-rlo": "\u202e",
    "bidi-lri": "\u2066",
    "bidi-pdi": "\u2069",
    "surrogate": "\ud800",
}
# What free text must refuse (a newline, a tab and CRLF are allowed there).
FREE_POISON = {
    k: v for k, v in LABEL_POISON.items() if k not in ("tab", "lf", "crlf", "line-separator")
}


class Expect(StrEnum):
    OK = "2xx"
    REFUSED = "4xx"
    EITHER = "either"  # the incident's state decides (a race, a quorum, a deadline)


@dataclass(frozen=True)
class Call:
    """One HTTP request and the answer it must get."""

    label: str  # the attack class, as wrong answers are counted
    method: str
    path: str
    expect: Expect
    role: str | None = "operator"  # None: no Authorization header at all
    body: Any = None
    raw: bytes | None = None  # sent as is (malformed JSON, oversize bodies)
    params: tuple[tuple[str, str], ...] = ()
    idempotency_key: str | None = None
    status: frozenset[int] = frozenset()  # the refusals allowed, when it must be one of them
    remember: str | None = None  # keep the answer under this name
    same_as: str | None = None  # the answer must name what the remembered one named
    check: str | None = None  # a named check of the answer's content (attack_client.CHECKS)

    def content(self) -> bytes | None:
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return None
        # Escapes where the body holds a lone surrogate (UTF-8 cannot), else UTF-8 as a client
        # would send it.
        return json.dumps(self.body, ensure_ascii=_has_surrogate(self.body)).encode()


@dataclass(frozen=True)
class Race:
    """Calls sent at once by racing clients; ``accepted``: exactly this many may succeed."""

    calls: tuple[Call, ...]
    accepted: int | None = None


Step = Call | Race


@dataclass
class Script:
    name: str
    steps: list[Step] = field(default_factory=list)
    incident: str | None = None  # the id its report should get (the answer's id is used)
    exercise: bool = False

    def calls(self) -> int:
        return sum(len(s.calls) if isinstance(s, Race) else 1 for s in self.steps)


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any("\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


class Fuzz:
    """Text, fair and foul, from one seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def word(self, n: int | None = None) -> str:
        alphabet = self.rng.choice((CYRILLIC, ARABIC, LATIN, LATIN + CYRILLIC, LATIN + EMOJI))
        return "".join(self.rng.choice(alphabet) for _ in range(n or self.rng.randint(3, 12)))

    def label(self) -> str:
        """A label every rule accepts: non-ASCII, NFD, inner spaces, surrounding spaces."""
        parts = [self.word() for _ in range(self.rng.randint(1, 3))]
        if self.rng.random() < 0.2:
            parts.append(self.rng.choice(DECOMPOSED))
        text = " ".join(parts)
        return f"  {text} " if self.rng.random() < 0.1 else text

    def free(self, chars: int | None = None) -> str:
        """Free text every rule accepts: lines, tabs, CRLF, NFD, non-ASCII."""
        chars = chars or self.rng.randint(0, 300)
        out: list[str] = []
        while sum(map(len, out)) < chars:
            out.append(self.word())
            out.append(self.rng.choice((" ", " ", " ", "\n", "\t", "\r\n", "\r", ", ")))
            if self.rng.random() < 0.05:
                out.append(self.rng.choice(DECOMPOSED))
        return "".join(out)[:chars].rstrip("\r")

    def long(self, chars: int) -> str:
        """Exactly ``chars`` characters of one script (NFC-stable, so the count holds)."""
        alphabet = self.rng.choice((CYRILLIC, ARABIC, EMOJI.replace("🇺🇦", ""), CYRILLIC + " "))
        return "".join(self.rng.choice(alphabet) for _ in range(chars))

    def poisoned(self, text: str, poison: dict[str, str]) -> tuple[str, str]:
        name = self.rng.choice(sorted(poison))
        at = self.rng.randint(0, len(text))
        return name, text[:at] + poison[name] + text[at:]


class Generator:
    """``scripts(n)``: scripts adding up to at least ``n`` calls, the same for the same seed."""

    def __init__(
        self,
        seed: int,
        exercise_ids: tuple[str, ...] = (),
        now: datetime | None = None,
        salt: str = "",
    ) -> None:
        self.rng = random.Random(seed)
        self.fuzz = Fuzz(self.rng)
        self.seed = seed
        self.salt = salt  # keeps report ids apart when one database sees the same seed twice
        self.exercise_ids = exercise_ids
        self.now = now or datetime.now(UTC)
        self._count = 0

    # -- the pieces ------------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        self._count += 1
        tail = uuid.UUID(int=self.rng.getrandbits(128)).hex[:12]
        return f"{prefix}-{self.seed}{self.salt}-{self._count}-{tail}"

    def report_body(self, **overrides: Any) -> dict[str, Any]:
        rng = self.rng
        body: dict[str, Any] = {
            "report_id": self._id(rng.choice(("rep", "звіт", "بلاغ", "rep🛰"))),
            "kind": "large_scale_offensive",
            "sector": self.fuzz.label(),
            "reported_by": self.fuzz.label(),
            "summary": self.fuzz.free(),
        }
        if rng.random() < 0.4:
            body["evidence"] = [
                {"source": self.fuzz.label(), "summary": self.fuzz.free(80)}
                for _ in range(rng.randint(1, 3))
            ]
        if rng.random() < 0.3:
            # A few minutes back: every deadline still ahead, none due during the run.
            ago = timedelta(seconds=rng.randint(0, 600))
            body["observed_at"] = (self.now - ago).isoformat()
        body.update(overrides)
        return body

    def incident_of(self, body: dict[str, Any]) -> str:
        from workflows.starting import incident_id_for

        return incident_id_for(
            normalise(body["report_id"], REPORT_ID), normalise(body["sector"], SECTOR)
        )

    def report(self, body: dict[str, Any], expect: Expect = Expect.OK, **kw: Any) -> Call:
        role = kw.pop("role", self.rng.choice(("reporter", "operator")))
        return Call(kw.pop("label", "report"), "POST", "/v1/violations", expect, role, body, **kw)

    def evidence_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"source": self.fuzz.label()}
        if self.rng.random() < 0.8:
            body["summary"] = self.fuzz.free()
        return body

    def evidence(self, body: dict[str, Any], expect: Expect, **kw: Any) -> Call:
        role = kw.pop("role", self.rng.choice(("reporter", "operator")))
        path = f"/v1/incidents/{INCIDENT}/evidence"
        return Call(kw.pop("label", "evidence"), "POST", path, expect, role, body, **kw)

    def commitment(self, expect: Expect, party: str | None = None, **kw: Any) -> Call:
        party = party or self.rng.choice(ALLIES)
        answer = self.rng.choice(("commit", "commit", "decline"))
        body: dict[str, Any] = {"answer": answer}
        if answer == "commit":
            body["assets"] = self.rng.sample(["air", "naval", "ground"], self.rng.randint(1, 3))
        if self.rng.random() < 0.5:
            body["party"] = party
        if self.rng.random() < 0.5:
            body["rationale"] = self.fuzz.free()
        body.update(kw.pop("body", {}))
        path = f"/v1/incidents/{INCIDENT}/commitments"
        return Call(
            kw.pop("label", "commitment"), "POST", path, expect, f"ally:{party}", body, **kw
        )

    def decision(self, action: str, expect: Expect, **kw: Any) -> Call:
        body: dict[str, Any] = {"action": action, "rationale": kw.pop("rationale", None)}
        body["rationale"] = body["rationale"] or self.fuzz.free(self.rng.randint(1, 200)) + "."
        body.update(kw.pop("body", {}))
        path = f"/v1/incidents/{INCIDENT}/decisions"
        return Call(
            kw.pop("label", action), "POST", path, expect, kw.pop("role", "operator"), body, **kw
        )

    def read(self, tail: str = "", expect: Expect = Expect.OK, **kw: Any) -> Call:
        role = kw.pop("role", self.rng.choice(ROLES))
        path = f"/v1/incidents/{INCIDENT}{tail}"
        return Call(kw.pop("label", f"read{tail or '-state'}"), "GET", path, expect, role, **kw)

    def key(self) -> str:
        return uuid.UUID(int=self.rng.getrandbits(128)).hex

    # -- hostile variants of a valid body ---------------------------------------------------

    def poisoned_label(self, body: dict[str, Any], field_name: str) -> tuple[str, dict[str, Any]]:
        name, value = self.fuzz.poisoned(str(body.get(field_name) or "x"), LABEL_POISON)
        return name, {**body, field_name: value}

    def poisoned_free(self, body: dict[str, Any], field_name: str) -> tuple[str, dict[str, Any]]:
        name, value = self.fuzz.poisoned(str(body.get(field_name) or "x"), FREE_POISON)
        return name, {**body, field_name: value}

    def refused_inputs(self) -> list[Call]:
        """Evidence, commitments and decisions each refused at the edge, whatever the state."""
        rng, out = self.rng, []
        for _ in range(rng.randint(2, 5)):
            what = rng.randrange(12)
            if what == 0:
                name, body = self.poisoned_label(self.evidence_body(), "source")
                out.append(
                    self.evidence(
                        body,
                        Expect.REFUSED,
                        label=f"evidence.source:{name}",
                        status=frozenset({422}),
                    )
                )
            elif what == 1:
                name, body = self.poisoned_free(self.evidence_body(), "summary")
                out.append(
                    self.evidence(
                        body,
                        Expect.REFUSED,
                        label=f"evidence.summary:{name}",
                        status=frozenset({422}),
                    )
                )
            elif what == 2:
                body = {**self.evidence_body(), "summary": self.fuzz.long(4001)}
                out.append(
                    self.evidence(
                        body,
                        Expect.REFUSED,
                        label="evidence.summary:oversize",
                        status=frozenset({422, 413}),
                    )
                )
            elif what == 3:
                body = {"source": self.fuzz.long(SOURCE.max_chars + rng.randint(1, 40))}
                out.append(
                    self.evidence(
                        body,
                        Expect.REFUSED,
                        label="evidence.source:oversize",
                        status=frozenset({422}),
                    )
                )
            elif what == 4:
                body = {
                    **self.evidence_body(),
                    rng.choice(("actor", "sources", "Source", "x")): "y",
                }
                out.append(
                    self.evidence(
                        body,
                        Expect.REFUSED,
                        label="evidence:unknown-field",
                        status=frozenset({422}),
                    )
                )
            elif what == 5:
                party = rng.choice(ALLIES)
                other = rng.choice([p for p in ALLIES if p != party])
                call = self.commitment(
                    Expect.REFUSED,
                    party,
                    body={"party": other},
                    label="commitment:other-party",
                    status=frozenset({403}),
                )
                out.append(call)
            elif what == 6:
                name, rationale = self.fuzz.poisoned(self.fuzz.free(40) + ".", FREE_POISON)
                out.append(
                    self.decision(
                        rng.choice(("stand_down", "confirm")),
                        Expect.REFUSED,
                        rationale=rationale,
                        label=f"decision.rationale:{name}",
                        status=frozenset({422}),
                    )
                )
            elif what == 7:
                role = rng.choice(("observer", "ally:uk", "reporter"))
                out.append(
                    self.decision(
                        "stand_down",
                        Expect.REFUSED,
                        role=role,
                        label="decision:wrong-role",
                        status=frozenset({403}),
                    )
                )
            elif what == 8:
                name, rationale = self.fuzz.poisoned(self.fuzz.free(40), FREE_POISON)
                call = self.commitment(
                    Expect.REFUSED,
                    body={"rationale": rationale},
                    label=f"commitment.rationale:{name}",
                    status=frozenset({422}),
                )
                out.append(call)
            elif what == 9:
                # The party is checked against the token only once it is a plan's name at all.
                party = rng.choice(ALLIES)
                name, poisoned = self.fuzz.poisoned(party, LABEL_POISON)
                call = self.commitment(
                    Expect.REFUSED,
                    party,
                    body={"party": poisoned},
                    label=f"commitment.party:{name}",
                    status=frozenset({422, 403}),
                )
                out.append(call)
            elif what == 10:
                key = rng.choice(("two words", "k" * 201, "tab\there", "ключ"))
                call = self.evidence(
                    self.evidence_body(),
                    Expect.REFUSED,
                    idempotency_key=key,
                    label="evidence:malformed-key",
                    status=frozenset({422}),
                )
                out.append(call)
            else:
                out.append(
                    self.decision(
                        "stand_down",
                        Expect.REFUSED,
                        rationale=" \n\t ",
                        label="decision.rationale:blank",
                        status=frozenset({422}),
                    )
                )
        return out  # fmt: skip

    def unknown_query(self) -> Call:
        """Unknown query parameters are refused (docs/api.md), on writes as on reads."""
        param = (self.rng.choice(("foo", "token", "exercise_", "limit", "dry_run")), "1")
        if self.rng.random() < 0.5:
            return self.read(
                expect=Expect.REFUSED,
                params=(param,),
                label="read:unknown-param",
                status=frozenset({422}),
            )
        call = self.evidence(
            self.evidence_body(),
            Expect.REFUSED,
            label="evidence:unknown-param",
            status=frozenset({422}),
        )
        return replace(call, params=(param,))  # fmt: skip

    def bad_auth(self, call: Call) -> Call:
        role = self.rng.choice((None, BAD_TOKEN))
        return replace(
            call,
            role=role,
            expect=Expect.REFUSED,
            status=frozenset({401}),
            label=f"{call.label.split(':')[0]}:{'no' if role is None else 'bad'}-token",
            remember=None,
            same_as=None,
        )

    # -- scripts ----------------------------------------------------------------------------

    def lifecycle(self) -> Script:
        """An incident from report to stand-down, with every kind of refusal on the way, and
        inputs after its close."""
        rng = self.rng
        body = self.report_body()
        script = Script("lifecycle", incident=self.incident_of(body))
        steps = script.steps
        steps.append(self.report(body, remember="report"))
        steps.append(self.report(body, label="report:same-retry", same_as="report"))
        steps.append(self.report({**body, "summary": body["summary"] + " (revised)"}, Expect.REFUSED, label="report:same-id-other-body", status=frozenset({409})))  # fmt: skip
        open_ = True
        for _ in range(rng.randint(4, 14)):
            what = rng.randrange(12)
            if what <= 2:
                key = self.key() if rng.random() < 0.4 else None
                first = self.evidence(
                    self.evidence_body(), Expect.OK, idempotency_key=key, remember=key
                )
                steps.append(first)
                if key and rng.random() < 0.6:
                    steps.append(
                        replace(first, remember=None, same_as=key, label="evidence:key-replayed")
                    )
                if key and rng.random() < 0.5:
                    other = {**first.body, "source": self.fuzz.label()}
                    steps.append(
                        replace(
                            first,
                            body=other,
                            expect=Expect.REFUSED,
                            remember=None,
                            label="evidence:key-other-body",
                            status=frozenset({422}),
                        )
                    )
            elif what == 3:
                steps.append(self.commitment(Expect.OK))
            elif what == 4:
                steps.append(self.decision("confirm", Expect.EITHER))
            elif what == 5:
                steps.extend(self.refused_inputs())
            elif what == 6:
                steps.append(self.unknown_query())
            elif what == 7:
                steps.append(self.bad_auth(self.rng.choice((self.evidence(self.evidence_body(), Expect.OK), self.read(), self.decision("stand_down", Expect.OK)))))  # fmt: skip
            elif what == 8:
                steps.append(self.read(rng.choice(("", "", "/decisions", "/ledger/verify"))))
            elif what == 9:
                # The same incident addressed as an exercise: it is not one.
                steps.append(self.read(expect=Expect.REFUSED, params=(("exercise", "true"),), label="read:real-as-exercise", status=frozenset({404})))  # fmt: skip
            elif what == 10:
                steps.append(self.evidence(self.evidence_body(), Expect.REFUSED, params=(("exercise", "true"),), label="evidence:real-as-exercise", status=frozenset({404})))  # fmt: skip
            else:
                steps.append(self.read("/decisions", params=(("after", "1"), ("limit", str(rng.randint(1, 5))))))  # fmt: skip
        if rng.random() < 0.3:
            # Whether authorization is allowed depends on the quorum: either answer, and an
            # accepted one may close the incident.
            steps.append(self.decision("authorize", Expect.EITHER))
            open_ = False
        closing = self.key()
        expect = Expect.OK if open_ else Expect.EITHER
        stand_down = self.decision(
            "stand_down", expect, idempotency_key=closing, remember="closing"
        )
        steps.append(stand_down)
        steps.append(replace(stand_down, remember=None, same_as="closing" if open_ else None, label="stand_down:key-replayed"))  # fmt: skip
        after = {409}
        steps.append(self.evidence(self.evidence_body(), Expect.REFUSED, label="evidence:after-close", status=frozenset(after)))  # fmt: skip
        steps.append(self.commitment(Expect.REFUSED, label="commitment:after-close", status=frozenset(after)))  # fmt: skip
        steps.append(self.decision(rng.choice(("confirm", "stand_down", "authorize")), Expect.REFUSED, label="decision:after-close", status=frozenset(after)))  # fmt: skip
        steps.append(self.read())
        return script

    def growth(self) -> Script:
        """Payload-size growth: many long non-ASCII evidence posts to one incident, which must
        keep answering its query and accept its stand-down later."""
        body = self.report_body(summary=self.fuzz.long(4000))
        script = Script("growth", incident=self.incident_of(body))
        script.steps.append(self.report(body, label="report:long"))
        sources = [self.fuzz.label() for _ in range(4)]
        for n in range(self.rng.randint(30, 45)):
            ev = {"source": self.rng.choice(sources), "summary": self.fuzz.long(4000)}
            script.steps.append(self.evidence(ev, Expect.OK, label="evidence:long"))
            if n % 10 == 9:
                script.steps.append(self.read(label="read-state:grown"))
        script.steps.append(self.read(label="read-state:grown"))
        script.steps.append(self.read("/decisions", label="read-ledger:grown"))
        return script  # left open: the stand-down after the run must still close it

    def flood(self, posts: int) -> Script:
        """Growth by count: more inputs to one incident than one Temporal run takes (2,000
        updates), so it must hand over to its next run and keep answering. Sent by racing
        clients, FLOOD_WIDTH at a time (Temporal admits 10 updates in flight per workflow)."""
        body = self.report_body()
        script = Script("flood", incident=self.incident_of(body))
        script.steps.append(self.report(body, label="report:flooded"))
        sources = [self.fuzz.label() for _ in range(3)]
        for n in range(0, posts, FLOOD_WIDTH):
            wave = []
            for m in range(n, min(n + FLOOD_WIDTH, posts)):
                key = self.key() if m % 7 == 0 else None
                ev = {"source": self.rng.choice(sources)}
                wave.append(self.evidence(ev, Expect.OK, idempotency_key=key, label="evidence:flood"))  # fmt: skip
            script.steps.append(Race(tuple(wave)))
            if n // FLOOD_WIDTH % 30 == 29:
                script.steps.append(self.read(label="read-state:flooded"))
        script.steps.append(self.read(label="read-state:flooded"))
        return script  # left open, as the growth script

    def race(self) -> Script:
        """Racing clients on one incident: evidence at once, one key replayed at once, and
        stand-downs of which exactly one wins."""
        body = self.report_body()
        script = Script("race", incident=self.incident_of(body))
        steps = script.steps
        steps.append(self.report(body, remember="report"))
        # The same report posted by several clients at once: one incident, every answer 2xx.
        steps.append(Race(tuple(self.report(body, label="report:raced") for _ in range(3))))
        steps.append(Race(tuple(self.evidence(self.evidence_body(), Expect.OK, label="evidence:raced") for _ in range(self.rng.randint(4, 8)))))  # fmt: skip
        keyed = self.evidence(self.evidence_body(), Expect.OK, idempotency_key=self.key(), label="evidence:key-raced")  # fmt: skip
        steps.append(Race((keyed,) * 3))
        steps.append(replace(keyed, label="evidence:key-after-race"))
        steps.append(Race((*(self.commitment(Expect.OK, label="commitment:raced") for _ in range(3)), self.read(label="read-state:raced"))))  # fmt: skip
        steps.append(Race(tuple(self.decision("stand_down", Expect.EITHER, label="stand_down:raced") for _ in range(3)), accepted=1))  # fmt: skip
        steps.append(self.decision("stand_down", Expect.REFUSED, label="decision:after-close", status=frozenset({409})))  # fmt: skip
        return script

    def late(self) -> Script:
        """A report after its window (closed at intake) and one from the future (refused)."""
        body = self.report_body(observed_at=(self.now - timedelta(hours=100)).isoformat())
        script = Script("late", incident=self.incident_of(body))
        script.steps.append(self.report(body, label="report:window-closed", check="window_closed"))
        script.steps.append(self.evidence(self.evidence_body(), Expect.REFUSED, label="evidence:after-window", status=frozenset({409})))  # fmt: skip
        script.steps.append(self.read())
        future = self.report_body(observed_at=(self.now + timedelta(days=2)).isoformat())
        script.steps.append(self.report(future, Expect.REFUSED, label="report:future", status=frozenset({422})))  # fmt: skip
        return script

    def edge(self) -> Script:
        """Requests refused before any incident is touched."""
        rng, steps = self.rng, []
        for _ in range(rng.randint(4, 10)):
            what = rng.randrange(11)
            body = self.report_body()
            if what == 0:
                field_name = rng.choice(("report_id", "sector", "reported_by"))
                name, bad = self.poisoned_label(body, field_name)
                steps.append(self.report(bad, Expect.REFUSED, label=f"report.{field_name}:{name}", status=frozenset({422})))  # fmt: skip
            elif what == 1:
                name, bad = self.poisoned_free(body, "summary")
                steps.append(self.report(bad, Expect.REFUSED, label=f"report.summary:{name}", status=frozenset({422})))  # fmt: skip
            elif what == 2:
                bad = {**body, "evidence": [{"source": self.fuzz.poisoned("isr", LABEL_POISON)[1]}]}
                steps.append(self.report(bad, Expect.REFUSED, label="report.evidence.source:poisoned", status=frozenset({422})))  # fmt: skip
            elif what == 3:
                raw = json.dumps({**body, "summary": "x" * (MAX_BODY_BYTES + 10)}).encode()
                steps.append(self.report(body, Expect.REFUSED, raw=raw, label="report:oversize-body", status=frozenset({413})))  # fmt: skip
            elif what == 4:
                raw = rng.choice((b"{", b"[]", b"null", b'{"report_id": }', b"\xff\xfe", b""))
                steps.append(self.report(body, Expect.REFUSED, raw=raw, label="report:malformed", status=frozenset({422, 400})))  # fmt: skip
            elif what == 5:
                bad = {**body, rng.choice(("priority", "Kind", "exercise", "t0")): "x"}
                steps.append(self.report(bad, Expect.REFUSED, label="report:unknown-field", status=frozenset({422})))  # fmt: skip
            elif what == 6:
                steps.append(self.bad_auth(self.report(body)))
            elif what == 7:
                steps.append(self.report(body, Expect.REFUSED, role=rng.choice(("observer", "ally:pl")), label="report:wrong-role", status=frozenset({403})))  # fmt: skip
            elif what == 8:
                params = rng.choice(((("limit", "0"),), (("offset", "-1"),), (("status", "maybe"),), (("kind", "Ж"),), (("sort", "id"),)))  # fmt: skip
                steps.append(Call("list:bad-param", "GET", "/v1/incidents", Expect.REFUSED, rng.choice(ROLES), params=params, status=frozenset({422})))  # fmt: skip
            elif what == 9:
                incident = rng.choice(("nowhere-00000000", "Ж-1", "a" * 101, "x%00y", "-abc"))
                role = rng.choice((None, BAD_TOKEN, "observer"))
                status = {401} if role in (None, BAD_TOKEN) else {404, 422}
                params = (("exercise", "true"),) if rng.random() < 0.5 else ()
                steps.append(Call("read:unknown-incident", "GET", f"/v1/incidents/{incident}", Expect.REFUSED, role, params=params, status=frozenset(status)))  # fmt: skip
            else:
                params = rng.choice(((), (("status", "open"),), (("exercise", "true"),), (("limit", "3"), ("offset", "2"))))  # fmt: skip
                steps.append(Call("list", "GET", "/v1/incidents", Expect.OK, rng.choice(ROLES), params=params))  # fmt: skip
        # A real report whose sector starts with "Exercise" is a real incident all the same.
        if rng.random() < 0.3:
            body = self.report_body(sector=rng.choice(("Exercise Alpha", "exercise-north")))
            steps.append(self.report(body, label="report:exercise-sector", check="real_id"))
            return Script("edge", steps, incident=self.incident_of(body))
        return Script("edge", steps)

    def exercise(self) -> Script:
        """An exercise incident: unreachable as a real one, reachable with ``exercise=true``."""
        incident = self.rng.choice(self.exercise_ids)
        script = Script("exercise", incident=incident, exercise=True)
        drill = (("exercise", "true"),)
        script.steps += [
            self.read(expect=Expect.REFUSED, label="read:exercise-as-real", status=frozenset({404})),
            self.evidence(self.evidence_body(), Expect.REFUSED, label="evidence:exercise-as-real", status=frozenset({404})),
            self.decision("stand_down", Expect.REFUSED, label="stand_down:exercise-as-real", status=frozenset({404})),
            self.read(params=drill, label="read:exercise"),
            self.evidence(self.evidence_body(), Expect.OK, params=drill, label="evidence:exercise"),
            self.read("/decisions", params=drill, label="read-ledger:exercise"),
            self.read(expect=Expect.REFUSED, role=None, params=drill, label="read:exercise-no-token", status=frozenset({401})),
        ]  # fmt: skip
        return script

    def scripts(self, calls: int) -> list[Script]:
        kinds = [
            (self.lifecycle, 50),
            (self.edge, 20),
            (self.race, 10),
            (self.late, 5),
            (self.growth, 3),
        ]
        if self.exercise_ids:
            kinds.append((self.exercise, 6))
        makers, weights = zip(*kinds, strict=True)
        out: list[Script] = [self.growth()]  # one at least, whatever the size of the run
        if calls >= FLOOD_FROM:
            out.append(self.flood(FLOOD_POSTS))
        total = sum(s.calls() for s in out)
        while total < calls:
            script = self.rng.choices(makers, weights)[0]()
            out.append(script)
            total += script.calls()
        return out
