"""Errors and problem reports shared by importers, the CLI and the app.

A ``UserError`` is a mistake in the user's input or call that stops an operation; the CLI prints its message
without a traceback and the app shows it with ``st.error``. A ``Problem`` is one bad record that was skipped
while the valid records around it were kept; importers collect them in a ``ProblemReport``. A record that is
kept but suspicious (a box partly outside its image, a score above 1) is a *flagged* problem (``kept=True``),
added with ``ProblemReport.warn``.
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
    ``kept`` is True for a flagged record that was imported anyway (see ``ProblemReport.warn``).
    """

    file: str
    record: str
    message: str
    kind: str = "invalid"
    kept: bool = False

    def __str__(self) -> str:
        return f"{self.file}: {self.record}: {self.message}" + (" (kept)" if self.kept else "")


@dataclass
class ProblemReport:
    """The problems met while reading inputs, plus how many records of each table were kept."""

    problems: list[Problem] = field(default_factory=list)
    kept: Counter = field(default_factory=Counter)

    def add(self, file: str, record: str, message: str, kind: str = "invalid") -> None:
        """Record a rejected (skipped) record."""
        self.problems.append(Problem(str(file), str(record), message, kind))

    def warn(self, file: str, record: str, message: str, kind: str = "flagged") -> None:
        """Record a record that was kept but is suspicious (e.g. a box partly outside its image)."""
        self.problems.append(Problem(str(file), str(record), message, kind, kept=True))

    @property
    def skipped(self) -> list[Problem]:
        """The rejected records, in the order they were met."""
        return [p for p in self.problems if not p.kept]

    @property
    def flagged(self) -> list[Problem]:
        """The kept-but-flagged records, in the order they were met."""
        return [p for p in self.problems if p.kept]

    def extend(self, other: "ProblemReport") -> None:
        self.problems.extend(other.problems)
        self.kept.update(other.kept)

    def __len__(self) -> int:
        return len(self.problems)

    def summary(self) -> dict[str, int]:
        """Number of skipped records per problem kind (flagged-but-kept records are not counted)."""
        return dict(Counter(p.kind for p in self.problems if not p.kept))

    def flagged_summary(self) -> dict[str, int]:
        """Number of kept-but-flagged records per problem kind."""
        return dict(Counter(p.kind for p in self.problems if p.kept))

    def format(self, limit: int = 20) -> str:
        """Human-readable report: kept counts, skipped and flagged counts per kind, then the first ``limit``
        problems (skipped ones first)."""
        lines = []
        if self.kept:
            lines.append("kept: " + ", ".join(f"{n} {what}" for what, n in sorted(self.kept.items())))
        skipped, flagged = self.skipped, self.flagged
        if skipped:
            per_kind = ", ".join(f"{n} {kind}" for kind, n in sorted(self.summary().items()))
            lines.append(f"skipped {len(skipped)} record(s): {per_kind}")
        if flagged:
            per_kind = ", ".join(f"{n} {kind}" for kind, n in sorted(self.flagged_summary().items()))
            lines.append(f"flagged {len(flagged)} kept record(s): {per_kind}")
        ordered = skipped + flagged
        lines.extend(f"  {p}" for p in ordered[:limit])
        if len(ordered) > limit:
            lines.append(f"  ... and {len(ordered) - limit} more (all of them are in the project's import_report.json)")
        return "\n".join(lines)

    def print_problems(self, full_report, *, limit: int = 20) -> None:
        """Print the problems for a command's user (``format`` without the kept line, which the command states
        itself) and where the full report is, or "no problems found"."""
        if not self.problems:
            print("no problems found")
            return
        details = self.format(limit=max(limit, 0))
        print(details[details.index("\n") + 1:] if details.startswith("kept:") else details)
        print(f"full report: {full_report}")

    def to_dict(self) -> dict:
        return {
            "kept": dict(self.kept),
            "skipped": self.summary(),
            "flagged": self.flagged_summary(),
            "problems": [p.__dict__ for p in self.problems],
        }
