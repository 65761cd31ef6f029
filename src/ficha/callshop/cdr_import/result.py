"""What an import did: counts and the problems met, line by line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

MAX_PROBLEMS = 1000  # problems kept in a result (all are counted)

Progress = Callable[[int, int], None]  # (bytes read, total bytes)


@dataclass(frozen=True, slots=True)
class Problem:
    line: int
    message: str
    text: str = ""

    def __str__(self) -> str:
        return _("line %(line)d: %(message)s") % {"line": self.line, "message": self.message}


@dataclass
class CdrImport:
    """What an import did."""

    records: int = 0  # CDR lines read (not counting blank lines)
    imported: int = 0  # new calls stored
    answered: int = 0  # of which answered
    duplicates: int = 0  # known already: nothing charged again
    ended: int = 0  # calls authorized through the API that their CDR ended
    charged: int = 0  # prepaid calls debited
    charged_amount: int = 0  # minor units
    session_calls: int = 0  # added to an open booth session
    unbilled: int = 0  # stored with nobody to charge (the booth was not open)
    unpaid: int = 0  # prepaid cost the accounts' credit did not cover (minor units)
    total_cost: int = 0  # of the stored calls
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    source: str = ""
    seconds: float = 0.0

    def add_problem(self, problem: Problem) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def merge(self, other: CdrImport) -> None:
        for name in ("records", "imported", "answered", "duplicates", "ended", "charged",
                     "charged_amount", "session_calls", "unbilled", "total_cost", "unpaid"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for problem in other.problems:
            self.add_problem(problem)
        self.problem_count += other.problem_count - len(other.problems)
        self.source = self.source or other.source

    def as_dict(self) -> dict:
        return {"records": self.records, "imported": self.imported,
                "duplicates": self.duplicates, "ended": self.ended, "charged": self.charged,
                "charged_amount": self.charged_amount, "session_calls": self.session_calls,
                "unbilled": self.unbilled, "unpaid": self.unpaid,
                "problems": self.problem_count,
                "source": self.source}
