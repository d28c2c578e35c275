"""The engine's Temporal payload converter: JSON that writes UTF-8 as is.

The SDK's default JSON converter escapes every non-ASCII character (``\\u0434``), so a Cyrillic
or Arabic report takes about three times its UTF-8 size in each payload, and payload limits are
reached three times sooner. Escaped or not, the JSON decodes the same: payloads written before
this converter (and by clients using the default one) still decode.

Decoding goes through the SDK's ``value_to_type``, which resolves a dataclass's type hints again
for every value it converts (``typing.get_type_hints`` evaluates each string annotation): a
tenth of a sweep worker's CPU went there. :class:`KnownTypes` resolves them once per class and
leaves every other hint to the SDK, with the SDK's results and errors. Encoding, likewise, writes
the SDK's text without deep-copying every dataclass first.
"""

from __future__ import annotations

import dataclasses
import json
from enum import Enum
from typing import Any, get_type_hints

from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    AdvancedJSONEncoder,
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
    JSONTypeConverter,
)
from temporalio.converter import value_to_type as sdk_value_to_type


class Utf8JSONEncoder(AdvancedJSONEncoder):
    # class -> its field names; dataclasses are the engine's payloads, their fields do not change
    _fields: dict[type, tuple[str, ...]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ensure_ascii"] = False
        super().__init__(*args, **kwargs)

    def default(self, o: Any) -> Any:
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            # One level at a time: json comes back here for the dataclasses inside, so the text
            # is what the SDK's ``dataclasses.asdict`` gives, without its deep copy of each value.
            names = self._fields.get(type(o))
            if names is None:
                names = self._fields[type(o)] = tuple(f.name for f in dataclasses.fields(o))
            return {name: getattr(o, name) for name in names}
        return super().default(o)


@dataclasses.dataclass(frozen=True)
class _Field:
    name: str
    hint: Any
    init: bool


class KnownTypes(JSONTypeConverter):
    """Dataclasses and str/int enums decoded as the SDK decodes them, from hints resolved once per
    class; every other hint (unions, collections, datetimes, ...) is the SDK's, which calls back
    here for what they hold."""

    def __init__(self) -> None:
        self.converters: tuple[JSONTypeConverter, ...] = (self,)
        # hint -> its fields (a dataclass), the type an enum's values have (str or int), or None:
        # the SDK's to decode
        self._known: dict[Any, tuple[_Field, ...] | type | None] = {}

    def to_typed_value(self, hint: type, value: Any) -> Any:
        try:
            known = self._known[hint]
        except KeyError:
            known = self._known[hint] = self._learn(hint)
        except TypeError:  # an unhashable hint: nothing to remember it by
            return JSONTypeConverter.Unhandled
        if known is None:
            return JSONTypeConverter.Unhandled
        if isinstance(known, tuple):
            return self._dataclass(hint, known, value)
        if isinstance(value, known):
            return hint(value)
        return JSONTypeConverter.Unhandled  # the SDK says what is wrong with the value

    @staticmethod
    def _learn(hint: Any) -> tuple[_Field, ...] | type | None:
        if not isinstance(hint, type):
            return None
        if dataclasses.is_dataclass(hint):
            hints = get_type_hints(hint)
            return tuple(_Field(f.name, hints[f.name], f.init) for f in dataclasses.fields(hint))
        if issubclass(hint, Enum):
            # The SDK's order: an enum that mixes in int first, then one that mixes in str.
            return int if issubclass(hint, int) else str if issubclass(hint, str) else None
        return None

    def _dataclass(self, hint: type, fields: tuple[_Field, ...], value: Any) -> Any:
        if not isinstance(value, dict):
            return JSONTypeConverter.Unhandled
        # As the SDK does: unknown keys ignored, a missing required field left to __init__ to
        # refuse, init=False fields restored after construction (frozen ones too).
        given: dict[str, Any] = {}
        later: dict[str, Any] = {}
        for field in fields:
            if field.name not in value:
                continue
            try:
                converted = sdk_value_to_type(field.hint, value[field.name], self.converters)
            except Exception as err:
                raise TypeError(
                    f"Failed converting field {field.name} on dataclass {hint}"
                ) from err
            (given if field.init else later)[field.name] = converted
        obj = hint(**given)
        for name, converted in later.items():
            object.__setattr__(obj, name, converted)
        return obj


class Utf8JSONPayloadConverter(JSONPlainPayloadConverter):
    """UTF-8 as is; escaped, as before, only for text UTF-8 cannot hold (a lone surrogate), so
    such input still reaches the workflow, whose validators refuse it by name."""

    def __init__(self) -> None:
        super().__init__(encoder=Utf8JSONEncoder, custom_type_converters=KnownTypes().converters)

    def to_payload(self, value: Any) -> Payload | None:
        try:
            return super().to_payload(value)
        except UnicodeEncodeError:
            return Payload(
                metadata={"encoding": self.encoding.encode()},
                data=json.dumps(
                    value, cls=AdvancedJSONEncoder, separators=(",", ":"), sort_keys=True
                ).encode(),
            )


class Utf8PayloadConverter(CompositePayloadConverter):
    """The default converters in their order, JSON's with the UTF-8 encoder."""

    def __init__(self) -> None:
        super().__init__(
            *(
                Utf8JSONPayloadConverter()
                if isinstance(converter, JSONPlainPayloadConverter)
                else converter
                for converter in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


DATA_CONVERTER = dataclasses.replace(
    DataConverter.default, payload_converter_class=Utf8PayloadConverter
)
