"""Errors the engine reports to users.

A :class:`SpecError` carries a location so the CLI and the Snakefile can print
``file:line: field.path: message`` and exit with status 2.
"""
from __future__ import annotations

EXIT_BAD_INPUT = 2


class EngineError(Exception):
    """An error with a message meant for the user (no traceback needed)."""


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
        return f"{where}: {field}: {self.message}"


class SpecErrors(EngineError):
    """Several spec errors at once (validation reports all it finds)."""

    def __init__(self, errors: list[SpecError]):
        self.errors = errors
        super().__init__("\n".join(e.format() for e in errors))


class StoreError(EngineError):
    """A stored result is missing, incomplete or does not match its recorded hashes."""


class NumericalFault(EngineError):
    """A NaN or Inf appeared where a number was required."""
