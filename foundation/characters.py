"""The characters that must never reach a terminal, a log line or a stored label unseen.

Control characters (C0, DEL, C1) move a terminal's cursor, recolour it or hide what follows; the
bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069) make text read in another
order than it is stored ("Trojan Source"); a lone surrogate cannot be encoded at all. The text
rules (``workflows.text``) refuse them in what people submit, the console log escapes them.
"""

from __future__ import annotations

import re

BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))

# C0, DEL and C1; bidi overrides and isolates; surrogates (only ever lone ones in a str).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def is_control(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F


def is_surrogate(char: str) -> bool:
    return 0xD800 <= ord(char) <= 0xDFFF


def codepoint(char: str) -> str:
    return f"U+{ord(char):04X}"


_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(char: str) -> str:
    code = ord(char)
    if char in _SHORT:
        return _SHORT[char]
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_unsafe(text: str, keep: str = "") -> str:
    """``text`` with every unsafe character but those in ``keep`` written as a visible escape
    (ESC as ``\\x1b``, RLO as ``\\u202e``)."""
    if not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub(lambda m: m[0] if m[0] in keep else _escaped(m[0]), text)
