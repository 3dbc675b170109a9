"""Which evaluations count (METHODS.md §3).

An evaluation is discarded when it carries a discard tag or no diagnosis. One
with several diagnoses follows ``multi_diagnosis``: ``drop`` (default) leaves it
out, ``alphabetical`` keeps the alphabetically first, ``first`` the first in file
order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

MultiDiagnosis = Literal["drop", "alphabetical", "first"]
MULTI_DIAGNOSIS_OPTIONS: tuple[str, ...] = ("drop", "alphabetical", "first")

#: Reasons an evaluation is left out, in report order.
REASONS = ("Other-disease", "Low-quality", "no diagnosis", "multiple diagnoses")


class HasDiagnoses(Protocol):
    @property
    def diagnoses(self) -> list[str]: ...

    @property
    def discard_tags(self) -> list[str]: ...


def discard_reason(ev: HasDiagnoses) -> str | None:
    """The reason an evaluation is discarded whatever the multi-diagnosis option, else None.

    When several apply, the first of ``Other-disease``, ``Low-quality``, ``no diagnosis``.
    """
    for tag in ("Other-disease", "Low-quality"):
        if tag in ev.discard_tags:
            return tag
    if not ev.diagnoses:
        return "no diagnosis"
    return None


def diagnosis_of(ev: HasDiagnoses, multi_diagnosis: MultiDiagnosis = "drop") -> str | None:
    """The single diagnosis an evaluation counts with, or None when it does not count."""
    if multi_diagnosis not in MULTI_DIAGNOSIS_OPTIONS:
        raise ValueError(f"multi_diagnosis must be one of {MULTI_DIAGNOSIS_OPTIONS}, got {multi_diagnosis!r}")
    if discard_reason(ev) is not None:
        return None
    dx = ev.diagnoses
    if len(dx) == 1:
        return dx[0]
    if multi_diagnosis == "drop":
        return None
    return sorted(dx)[0] if multi_diagnosis == "alphabetical" else dx[0]


@dataclass
class Selection:
    """Outcome of applying METHODS §3 to a list of evaluations.

    ``kept`` maps the index of each counting evaluation to its diagnosis;
    ``reasons`` counts every left-out evaluation by reason; ``multi`` counts the
    evaluations with more than one diagnosis (kept or not).
    """

    multi_diagnosis: str
    kept: dict[int, str] = field(default_factory=dict)
    reasons: Counter[str] = field(default_factory=Counter)
    multi: int = 0

    @property
    def discarded(self) -> int:
        """Evaluations discarded by METHODS §3 (discard tag or no diagnosis)."""
        return sum(self.reasons[r] for r in REASONS[:3])

    @property
    def dropped_multi(self) -> int:
        """Multi-diagnosis evaluations left out under ``multi_diagnosis="drop"``."""
        return self.reasons["multiple diagnoses"]

    def report(self) -> dict[str, object]:
        return {
            "multi_diagnosis": self.multi_diagnosis,
            "kept": len(self.kept),
            "discarded": self.discarded,
            "discarded_by_reason": {r: self.reasons[r] for r in REASONS[:3] if self.reasons[r]},
            "multi_diagnosis_evaluations": self.multi,
            "multi_diagnosis_dropped": self.dropped_multi,
        }


def select(evaluations: Sequence[HasDiagnoses], multi_diagnosis: MultiDiagnosis = "drop") -> Selection:
    """Apply METHODS §3 to ``evaluations`` (indexed by position)."""
    sel = Selection(multi_diagnosis)
    for i, ev in enumerate(evaluations):
        if len(ev.diagnoses) > 1:
            sel.multi += 1
        reason = discard_reason(ev)
        if reason is not None:
            sel.reasons[reason] += 1
            continue
        dx = diagnosis_of(ev, multi_diagnosis)
        if dx is None:
            sel.reasons["multiple diagnoses"] += 1
        else:
            sel.kept[i] = dx
    return sel
