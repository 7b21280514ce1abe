"""Errors the engine reports to users.

A :class:`SpecError` carries a location so the CLI and the Snakefile can print
``file:line: field.path: message`` and exit with status 2.
"""
from __future__ import annotations

EXIT_BAD_INPUT = 2


class EngineError(Exception):
    """An error with a message meant for the user (no traceback needed)."""


# characters that print as nothing or as a space ([start, end) ranges): C0 controls but newline,
# DEL and C1 controls, no-break space, soft hyphen, odd spaces, zero-width and bidirectional
# controls, the BOM
_INVISIBLE = ((0x00, 0x0a), (0x0b, 0x20), (0x7f, 0xa1), (0xad, 0xae), (0x1680, 0x1681), (0x180e, 0x180f),
              (0x2000, 0x2010), (0x2028, 0x2030), (0x205f, 0x2070), (0x3000, 0x3001), (0xfeff, 0xff00))
_ESCAPE = {c: f"\\u{c:04x}" for start, end in _INVISIBLE for c in range(start, end)}
MAX_SHOWN = 1000


def shown(text: str) -> str:
    """An error line as a terminal can show it: invisible characters written as \\uXXXX (so
    "unknown field 'title\\ufeff'" is told apart from 'title'), and at most about MAX_SHOWN
    characters, the middle left out (a 900 KB value is not echoed) so that the end of the message,
    where the remedy is, stays."""
    text = text.translate(_ESCAPE)
    if len(text) > MAX_SHOWN:
        head, tail = text[:MAX_SHOWN // 2], text[-(MAX_SHOWN // 2):]
        text = f"{head} … ({len(text) - len(head) - len(tail)} characters left out) … {tail}"
    return text


class SpecError(EngineError):
    """Bad input in a spec file."""

    def __init__(self, file: str, line: int | None, path: str, message: str):
        self.file = str(file)
        self.line = line
        self.path = path
        self.message = message
        super().__init__(self.format())

    def format(self) -> str:
        where = f"{self.file}:{self.line if self.line is not None else 1}"
        field = self.path or "<document>"
        return shown(f"{where}: {field}: {self.message}")


class SpecErrors(EngineError):
    """Several spec errors at once (validation reports all it finds)."""

    def __init__(self, errors: list[SpecError]):
        self.errors = errors
        super().__init__("\n".join(e.format() for e in errors))


class StoreError(EngineError):
    """A stored result is missing, incomplete or does not match its recorded hashes."""


class NumericalFault(EngineError):
    """A NaN or Inf appeared where a number was required."""
