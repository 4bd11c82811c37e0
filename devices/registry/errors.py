"""Registry problems: every one names the file, the line and the field."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class RegistryError(Exception):
    """The camera registry file is invalid; ``problems`` lists every problem as ``file:line: field: message``."""

    def __init__(self, entries: list[Problem]) -> None:
        self.entries = list(entries)
        self.problems: list[str] = [str(p) for p in self.entries]
        noun = "problem" if len(self.entries) == 1 else "problems"
        super().__init__(f"{len(self.entries)} {noun} in camera registry:\n" + "\n".join(self.problems))

    @classmethod
    def single(cls, file: str, field: str, message: str, line: int = 0) -> RegistryError:
        return cls([Problem(file, line, field, message)])
