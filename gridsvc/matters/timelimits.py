"""Handling time limits (处置时限) of the case standards, parsed from their text.

The standards write limits as a number and a unit word, e.g. ``"2紧急工作日"``, ``"15天"``,
``"2小时"``, ``"4紧急工作时"``. :func:`parse` turns such a text into a :class:`TimeLimit`
with one of the four units that :mod:`gridsvc.calendar.worktime` counts:

==============  ===============  ========================================================
text unit       unit             convention
==============  ===============  ========================================================
小时            clock_hours      elapsed hours, day and night
紧急工作时      clock_hours      urgent: the clock runs around the clock
工作时          working_hours    only time inside the working windows of working days
天              working_days     the standards mean working days: the DOMAIN page reads
                                 "15天" for illegal construction as 15 working days
工作日          working_days
紧急工作日      calendar_days    urgent: runs through weekends and holidays
自然日          calendar_days
分钟            clock_hours      as a fraction of an hour (30分钟 -> 0.5 clock_hours)
==============  ===============  ========================================================

The amount is a positive decimal number (full-width digits are accepted); blanks around the
number and the unit are ignored. Anything else is **not guessed**: an empty text, a word
such as "立即", a Chinese numeral ("两小时") or trailing text ("1紧急工作时制止") raises
:class:`TimeLimitError`, and the importer stores the condition without a limit and lists it
in its report for a person to decide.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

UNITS = ("clock_hours", "working_hours", "working_days", "calendar_days")

# text unit -> (unit, factor applied to the amount)
_UNIT_WORDS: dict[str, tuple[str, float]] = {
    "小时": ("clock_hours", 1.0),
    "紧急工作时": ("clock_hours", 1.0),
    "工作时": ("working_hours", 1.0),
    "天": ("working_days", 1.0),
    "工作日": ("working_days", 1.0),
    "紧急工作日": ("calendar_days", 1.0),
    "自然日": ("calendar_days", 1.0),
    "分钟": ("clock_hours", 1.0 / 60.0),
}

_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(\S+?)\s*$")


class TimeLimitError(ValueError):
    """The text is not a time limit written in one of the documented forms."""


@dataclass(frozen=True)
class TimeLimit:
    amount: float
    unit: str

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"unit {self.unit!r} is not one of {', '.join(UNITS)}")
        if not self.amount > 0:
            raise ValueError(f"a time limit is positive, not {self.amount!r}")


def parse(text: str | None) -> TimeLimit:
    """``"15天"`` -> ``TimeLimit(15.0, "working_days")``; raises :class:`TimeLimitError`."""
    if text is None or not str(text).strip():
        raise TimeLimitError("empty time limit")
    normalized = unicodedata.normalize("NFKC", str(text))
    match = _PATTERN.match(normalized)
    if match is None:
        raise TimeLimitError(f"{text!r} is not a number followed by a unit")
    number, word = match.groups()
    if word not in _UNIT_WORDS:
        raise TimeLimitError(f"{text!r}: unknown unit {word!r} (known: {', '.join(_UNIT_WORDS)})")
    unit, factor = _UNIT_WORDS[word]
    amount = float(number) * factor
    if amount <= 0:
        raise TimeLimitError(f"{text!r}: a time limit must be positive")
    return TimeLimit(amount=amount, unit=unit)
