"""The engine's Temporal payload converter: JSON that writes UTF-8 as is.

The SDK's default JSON converter escapes every non-ASCII character (``\\u0434``), so a Cyrillic
or Arabic report takes about three times its UTF-8 size in each payload, and payload limits are
reached three times sooner. Escaped or not, the JSON decodes the same: payloads written before
this converter (and by clients using the default one) still decode.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    AdvancedJSONEncoder,
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)


class Utf8JSONEncoder(AdvancedJSONEncoder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ensure_ascii"] = False
        super().__init__(*args, **kwargs)


class Utf8JSONPayloadConverter(JSONPlainPayloadConverter):
    """UTF-8 as is; escaped, as before, only for text UTF-8 cannot hold (a lone surrogate), so
    such input still reaches the workflow, whose validators refuse it by name."""

    def __init__(self) -> None:
        super().__init__(encoder=Utf8JSONEncoder)

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
