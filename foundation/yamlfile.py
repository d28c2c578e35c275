"""YAML documents validated by pydantic, with errors that name the file, the line and the field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)

Loc = tuple[str | int, ...]


class DocumentError(ValueError):
    """A document that cannot be used; the message names where and what."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def _line_index(node: yaml.Node, loc: Loc, index: dict[Loc, int]) -> None:
    index[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            index[(*loc, key)] = key_node.start_mark.line + 1
            _line_index(value_node, (*loc, key), index)
            index[(*loc, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            _line_index(item, (*loc, position), index)


def _line_for(loc: Loc, index: dict[Loc, int]) -> int | None:
    # pydantic may point below what the YAML spelled out (a missing key): walk up to a parent.
    for end in range(len(loc), -1, -1):
        line = index.get(tuple(str(p) if isinstance(p, str) else p for p in loc[:end]))
        if line is not None:
            return line
    return None


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


# Derives the validation context from the raw document (a scenario's names are checked against
# the plan the document itself names).
ContextOf = Callable[[object], dict[str, Any]]


def parse(text: str, model: type[Model], source: str, context_of: ContextOf | None = None) -> Model:
    """Validate a YAML text into ``model``; raise DocumentError naming line and field."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "document"
        raise DocumentError(
            source, [f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})"]
        ) from exc
    if not isinstance(data, dict):
        raise DocumentError(source, ["document: expected a mapping at the top level"])
    index: dict[Loc, int] = {}
    if node is not None:
        _line_index(node, (), index)
    try:
        return model.model_validate(data, context=context_of(data) if context_of else None)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            loc = tuple(
                p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-"))
            )
            line = _line_for(loc, index)
            where = f"line {line}, " if line else ""
            # Our own validators' messages, without pydantic's "Value error, " in front.
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}{format_loc(loc)}: {message}")
        raise DocumentError(source, problems) from exc


def load(path: str | Path, model: type[Model], context_of: ContextOf | None = None) -> Model:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DocumentError(str(path), [f"cannot read: {exc.strerror}"]) from exc
    return parse(text, model, str(path), context_of)


def line_of(path: str | Path, loc: Loc) -> int | None:
    """The line of ``path`` where ``loc`` (a field's place, as pydantic gives it) is written."""
    try:
        node = yaml.compose(Path(path).read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError):
        return None
    index: dict[Loc, int] = {}
    if node is not None:
        _line_index(node, (), index)
    return _line_for(loc, index)
