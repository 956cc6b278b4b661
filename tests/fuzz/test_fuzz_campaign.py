"""Issue 10's fuzz campaign: over a thousand malformed inputs, each file mixing valid and invalid records, through
the real CLI (``explorer import`` / ``evaluate`` / ``metrics``), with a fixed seed.

For every case (``tests.fuzz.generate``, scored by ``tests.fuzz.run.score``): no traceback, no native crash or
hang (a sample runs in child processes), a meaningful exit status (0 when something valid was kept; non-zero with
one line naming the file when nothing is usable), every malformed record named by file and record, every valid
record kept in the project tables (``Project.load``), nothing invalid kept without a problem naming it.

The summary table is printed at the end of the run (``tests/fuzz/conftest.py``) and written to
``<pytest tmp>/fuzz/summary.md``. The larger randomised run: ``python -m tests.fuzz.run --cases 2000 --seed N``.
"""
from __future__ import annotations

from tests.fuzz.run import COLUMNS, campaign, format_table

SEED = 0


def test_fuzz_campaign_finds_no_traceback_crash_loss_or_silent_garbage(tmp_path_factory, fuzz_summary):
    base = tmp_path_factory.mktemp("fuzz")
    rows, failures, n_cases, seconds = campaign(base / "cases", seed=SEED, children=8)
    table = format_table(rows)
    text = f"{table}\n\n{n_cases:,} files, seed {SEED}, {seconds:.0f} s"
    (base / "summary.md").write_text(text + "\n", encoding="utf-8")
    fuzz_summary.append(text + f"\n(written to {base / 'summary.md'})")
    print("\n" + text)
    totals = {c: sum(r[c] for r in rows.values()) for c in COLUMNS}
    assert totals["inputs"] >= 1000
    assert len(rows) == 12  # every family ran
    shown = "\n".join(f"{fam}: {note}" for fam, notes in failures.items() for note in notes[:5])
    assert {c: totals[c] for c in COLUMNS[1:]} == dict.fromkeys(COLUMNS[1:], 0), f"{table}\n{shown}"
