"""Handling time limits (处置时限) of the case standards, parsed from their text.

The standards write limits as a number and a unit word, e.g. ``"2紧急工作日"``, ``"15天"``,
``"2小时"``, ``"4紧急工作时"``, and the hotline's own forms ``"3个工作日"``, ``"24小时内"``,
``"立即"``, ``"紧急2小时，一般3个工作日"``, ``"3-5天"``. :func:`parse` turns such a text into a
:class:`TimeLimit` with one of the four units that :mod:`gridsvc.calendar.worktime` counts
(working days and hours on the jurisdiction's holiday calendar, 调休 included):

==============  ===============  ========================================================
text unit       unit             convention
==============  ===============  ========================================================
小时            clock_hours      elapsed hours, day and night (also 个小时, 钟头)
紧急工作时      clock_hours      urgent: the clock runs around the clock
工作时          working_hours    only time inside the working windows of working days
                                 (also 工作小时)
天              working_days     the standards mean working days: the DOMAIN page reads
                                 "15天" for illegal construction as 15 working days
日              working_days     as 天
工作日          working_days     also 个工作日
紧急工作日      calendar_days    urgent: runs through weekends and holidays
自然日          calendar_days    also 日历日
分钟            clock_hours      as a fraction of an hour (30分钟 -> 0.5 clock_hours)
立即            clock_hours      1 hour: the shortest limit the real standard writes
                                 (1紧急工作时); also 立刻, 即时, 马上
==============  ===============  ========================================================

The forms around the unit:

* **Numbers**: decimal (``0.5天``), full-width (``１５天``), Chinese numerals
  (``两小时``, ``十五个工作日``, read by cn2an) and halves (``半天``, ``一个半小时``).
* **紧急 / 一般**: 紧急 before the number or the unit makes working time run around the clock
  (``紧急2天`` = ``2紧急工作日``: calendar days; ``紧急3工作时``: clock hours); 一般/普通
  changes nothing. A text with both tiers (``紧急2小时，一般3个工作日``, ``紧急：2小时/一般：1天``)
  gives the 一般 limit, the one that applies unless a case is marked urgent;
  :func:`parse_tiers` answers both.
* **Ranges** (``3-5天``, ``3～5个工作日``, ``2至4小时``, ``1天-3天``): the upper bound, the
  latest moment the standard still calls in time.
* **Trailing words**: 内/以内/之内, then one verb of what must be done by then
  (``1紧急工作时制止``, ``24小时内办结``, ``立即处置``).

Anything else is **not guessed**: an empty text, a bare number, an unknown unit (``2周``),
other text (``约2小时``, ``另行通知``), or two untiered limits (``2小时/4小时``) raise
:class:`TimeLimitError`, and the importer stores the condition without a limit and lists it
in its report for a person to decide.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import cn2an

UNITS = ("clock_hours", "working_hours", "working_days", "calendar_days")

# text unit -> (unit, factor applied to the amount). Longer words first in the pattern.
_UNIT_WORDS: dict[str, tuple[str, float]] = {
    "小时": ("clock_hours", 1.0),
    "钟头": ("clock_hours", 1.0),
    "紧急工作时": ("clock_hours", 1.0),
    "紧急工作小时": ("clock_hours", 1.0),
    "工作时": ("working_hours", 1.0),
    "工作小时": ("working_hours", 1.0),
    "天": ("working_days", 1.0),
    "日": ("working_days", 1.0),
    "工作日": ("working_days", 1.0),
    "工作天": ("working_days", 1.0),
    "紧急工作日": ("calendar_days", 1.0),
    "紧急工作天": ("calendar_days", 1.0),
    "自然日": ("calendar_days", 1.0),
    "日历日": ("calendar_days", 1.0),
    "自然天": ("calendar_days", 1.0),
    "分钟": ("clock_hours", 1.0 / 60.0),
}
# What 紧急 does to a unit: working time runs around the clock.
_URGENT = {"working_days": "calendar_days", "working_hours": "clock_hours"}
IMMEDIATE_WORDS = ("立即", "立刻", "即时", "马上")
IMMEDIATE_HOURS = 1.0
URGENT_LABELS = ("紧急", "加急", "特急")
NORMAL_LABELS = ("一般", "普通", "常规")
# Verbs that may follow a limit: what must be done by then.
ACTIONS = (
    "制止",
    "处置",
    "处理",
    "完成",
    "办结",
    "到场",
    "到位",
    "响应",
    "整改",
    "清理",
    "清除",
    "修复",
    "答复",
    "反馈",
    "解决",
)

_NUMBER = r"(?:\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百]+(?:点[零〇一二三四五六七八九]+)?|半)"
_UNIT = "|".join(sorted((re.escape(w) for w in _UNIT_WORDS), key=len, reverse=True))
_LABEL = "|".join(URGENT_LABELS + NORMAL_LABELS)
_TO = r"(?:-|~|—|–|至|到)"
_SUFFIX = rf"(?:以内|之内|内)?(?:{'|'.join(ACTIONS)})?"
_ONE = re.compile(
    rf"^(?P<label>{_LABEL})?:?"
    rf"(?:(?P<low>{_NUMBER})(?:个)?(?P<low_unit>(?:{_LABEL})?(?:{_UNIT}))?{_TO})?"
    rf"(?P<number>{_NUMBER})(?P<half>个半|半)?个?(?P<urgent>{_LABEL})?(?P<unit>{_UNIT})"
    rf"{_SUFFIX}$"
)
_IMMEDIATE = re.compile(rf"^(?P<label>{_LABEL})?:?(?:{'|'.join(IMMEDIATE_WORDS)}){_SUFFIX}$")
_TIER_SEPARATORS = re.compile(r"[,;、/|]+")


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


def _normalise(text: str) -> str:
    """Full-width to half-width (NFKC), no blanks, no closing full stop."""
    folded = unicodedata.normalize("NFKC", text)
    return re.sub(r"\s+", "", folded).rstrip("。.")


def _number(text: str, original: str) -> float:
    if text == "半":
        return 0.5
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    try:
        return float(cn2an.cn2an(text, "smart"))
    except ValueError:
        raise TimeLimitError(f"{original!r}: {text!r} is not a number") from None


def _limit_of(amount: float, word: str, urgent: bool, original: str) -> TimeLimit:
    unit, factor = _UNIT_WORDS[word]
    if urgent:
        unit = _URGENT.get(unit, unit)
    value = amount * factor
    if not value > 0:
        raise TimeLimitError(f"{original!r}: a time limit must be positive")
    return TimeLimit(amount=round(value, 6), unit=unit)


def _one(part: str, original: str) -> tuple[str | None, TimeLimit]:
    """One limit (optionally labelled 紧急/一般) -> (label tier or None, limit)."""
    immediate = _IMMEDIATE.match(part)
    if immediate:
        return _tier(immediate["label"]), TimeLimit(IMMEDIATE_HOURS, "clock_hours")
    match = _ONE.match(part)
    if match is None:
        raise TimeLimitError(
            f"{original!r} is not a time limit (a number and a unit such as 小时, 工作日, 天, "
            f"自然日, 紧急工作时; a range; or 立即)"
        )
    label = _tier(match["label"])
    urgent = label == "urgent" or match["urgent"] in URGENT_LABELS
    amount = _number(match["number"], original)
    if match["half"]:
        amount += 0.5
    limit = _limit_of(amount, match["unit"], urgent, original)
    if match["low"] is not None:
        low_word = match["low_unit"]
        if low_word:
            low_urgent = urgent or any(low_word.startswith(w) for w in URGENT_LABELS)
            bare = low_word
            for prefix in URGENT_LABELS + NORMAL_LABELS:
                bare = bare.removeprefix(prefix)
            low = _limit_of(_number(match["low"], original), bare, low_urgent, original)
            if low.unit != limit.unit:
                raise TimeLimitError(f"{original!r}: a range from {low.unit} to {limit.unit}")
            if low.amount > limit.amount:
                raise TimeLimitError(f"{original!r}: the range runs backwards")
        elif _number(match["low"], original) > amount:
            raise TimeLimitError(f"{original!r}: the range runs backwards")
    return label, limit


def _tier(label: str | None) -> str | None:
    if label is None:
        return None
    return "urgent" if label in URGENT_LABELS else "normal"


def parse_tiers(text: str | None) -> dict[str, TimeLimit]:
    """The limits of a text by tier: ``{"normal": ...}`` and, when written, ``{"urgent": ...}``.

    A text with one limit answers it as "normal" (labelled 紧急 alone: as "urgent" and
    "normal" both, since it is the only limit the standard gives)."""
    if text is None or not str(text).strip():
        raise TimeLimitError("empty time limit")
    original = str(text)
    normalised = _normalise(original)
    parts = [p for p in _TIER_SEPARATORS.split(normalised) if p]
    if len(parts) == 1:
        label, limit = _one(parts[0], original)
        return {"normal": limit, "urgent": limit} if label == "urgent" else {"normal": limit}
    tiers: dict[str, TimeLimit] = {}
    for part in parts:
        label, limit = _one(part, original)
        if label is None:
            raise TimeLimitError(
                f"{original!r}: {len(parts)} limits, not each labelled 紧急 or 一般 (which one applies?)"
            )
        if label in tiers:
            raise TimeLimitError(f"{original!r}: two {label} limits")
        tiers[label] = limit
    if "normal" not in tiers:
        raise TimeLimitError(f"{original!r}: no 一般 limit among the tiers")
    return tiers


def parse(text: str | None) -> TimeLimit:
    """``"15天"`` -> ``TimeLimit(15.0, "working_days")``; raises :class:`TimeLimitError`.

    A tiered text gives its 一般 limit (:func:`parse_tiers` for both)."""
    return parse_tiers(text)["normal"]
