"""Errors and problem reports shared by importers, the CLI and the app.

A ``UserError`` is a mistake in the user's input or call that stops an operation; the CLI prints its message
without a traceback and the app shows it with ``st.error``. A ``Problem`` is one bad record that was skipped
while the valid records around it were kept; importers collect them in a ``ProblemReport``.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


class UserError(Exception):
    """Bad input or usage; the message names the file and record and says what is wrong."""


@dataclass(frozen=True)
class Problem:
    """One rejected record: where it is (file and record) and what is wrong with it.

    ``record`` is whatever locates the record in its file: ``"annotations[12] (id=1774)"``, ``"line 3"``.
    ``kind`` is a short stable code used for the summary (``"bad_bbox"``, ``"unknown_category"``, ...).
    """

    file: str
    record: str
    message: str
    kind: str = "invalid"

    def __str__(self) -> str:
        return f"{self.file}: {self.record}: {self.message}"


@dataclass
class ProblemReport:
    """The problems met while reading inputs, plus how many records of each table were kept."""

    problems: list[Problem] = field(default_factory=list)
    kept: Counter = field(default_factory=Counter)

    def add(self, file: str, record: str, message: str, kind: str = "invalid") -> None:
        self.problems.append(Problem(str(file), str(record), message, kind))

    def extend(self, other: "ProblemReport") -> None:
        self.problems.extend(other.problems)
        self.kept.update(other.kept)

    def __len__(self) -> int:
        return len(self.problems)

    def summary(self) -> dict[str, int]:
        """Number of skipped records per problem kind."""
        return dict(Counter(p.kind for p in self.problems))

    def format(self, limit: int = 20) -> str:
        """Human-readable report: kept counts, skipped counts per kind, then the first ``limit`` problems."""
        lines = []
        if self.kept:
            lines.append("kept: " + ", ".join(f"{n} {what}" for what, n in sorted(self.kept.items())))
        if self.problems:
            per_kind = ", ".join(f"{n} {kind}" for kind, n in sorted(self.summary().items()))
            lines.append(f"skipped {len(self.problems)} record(s): {per_kind}")
            lines.extend(f"  {p}" for p in self.problems[:limit])
            if len(self.problems) > limit:
                lines.append(f"  ... and {len(self.problems) - limit} more (all of them are in the project's import_report.json)")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "kept": dict(self.kept),
            "skipped": self.summary(),
            "problems": [p.__dict__ for p in self.problems],
        }
