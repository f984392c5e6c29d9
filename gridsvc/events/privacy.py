"""Caller privacy (D12): what each viewer may see of the person who reported an event.

12345 practice and the Personal Information Protection Law (data minimisation) expect the
handling unit to see only what it needs to handle the case:

- the dispatch centre (:data:`CENTRE_ROLES`: admins and operators, the desk that took the
  call) sees the reporter as stored;
- every role outside the centre (grid heads, squads, departments, hotline integrations, and
  any viewer this module does not know: fail closed) sees
    * nothing at all (``None``) when the caller asked for confidentiality (保密);
    * otherwise the surname only (刘**) and a masked number (150****9511);
    * when the caller agreed to be called back (``consent_to_contact``) the full name, but the
      number still masked: a grid head or squad obtains it for a call through the audited
      reveal (``POST /events/{id}/reporter/reveal``, :mod:`gridsvc.events.contact`), so every
      full number handed outside the centre leaves a trace in the audit trail.

Everything here is pure (no I/O), so the API, the live pages, recipient notices and any
export apply the very same rule. Callbacks to the 12345 hotline carry no reporter at all: the
hotline owns the caller's record and matches callbacks by work-order number.
"""

from __future__ import annotations

from typing import Any

from gridsvc.auth.policy import DESK, FIELD

# The dispatch centre: the roles that see a caller in full (policy.DESK: admin, operator).
CENTRE_ROLES = DESK
# Who may reveal a consented number for a call (grid heads and squads on their own events;
# policy.RULES holds the same for POST /events/{id}/reporter/reveal).
REVEALERS = FIELD

# Two-character surnames, so that 欧阳娜娜 becomes 欧阳** and not 欧**.
COMPOUND_SURNAMES = frozenset(
    {
        "欧阳",
        "司马",
        "诸葛",
        "上官",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "令狐",
        "夏侯",
        "宇文",
        "司徒",
        "轩辕",
        "端木",
        "独孤",
        "南宫",
        "西门",
        "万俟",
        "闻人",
        "澹台",
        "公冶",
        "申屠",
        "太史",
        "钟离",
        "呼延",
        "百里",
        "东郭",
        "拓跋",
    }
)
NAME_MASK = "**"  # fixed width: the mask does not tell how long the given name is
PHONE_MASK = "****"


def role_of(viewer: Any) -> str | None:
    """The role of a viewer: a role name, a :class:`~gridsvc.auth.models.Principal` (or any
    object with ``role``), a users row (mapping with ``role``), or None (unknown)."""
    if viewer is None or isinstance(viewer, str):
        return viewer
    if isinstance(viewer, dict):
        role = viewer.get("role")
    else:
        role = getattr(viewer, "role", None)
    return role if isinstance(role, str) else None


def in_centre(viewer: Any) -> bool:
    return role_of(viewer) in CENTRE_ROLES


def mask_name(name: str | None) -> str | None:
    """刘娟娟 → 刘**, 欧阳娜娜 → 欧阳**, 'Anna Meier' → A**; empty stays as it is."""
    if name is None:
        return None
    text = name.strip()
    if not text:
        return text
    surname = text[:2] if text[:2] in COMPOUND_SURNAMES else text[0]
    return surname + NAME_MASK


def mask_phone(phone: str | None) -> str | None:
    """Keep the first 3 and last 4 digits: 15012349511 → 150****9511.

    Separators and a +86/0086 country prefix are dropped first; a number too short to keep
    seven digits and still hide some (fewer than 8 digits) is hidden completely.
    """
    if phone is None:
        return None
    digits = "".join(c for c in phone if c.isdigit())
    if not digits:
        return "" if not phone.strip() else PHONE_MASK
    for prefix in ("0086", "86"):
        if len(digits) == len(prefix) + 11 and digits.startswith(prefix):
            digits = digits[len(prefix) :]
            break
    if len(digits) < 8:
        return PHONE_MASK
    return digits[:3] + PHONE_MASK + digits[-4:]


def flags(reporter: dict[str, Any] | None) -> tuple[bool, bool]:
    """``(consent_to_contact, confidential)`` of a stored reporter (absent: False, False)."""
    reporter = reporter or {}
    return bool(reporter.get("consent_to_contact")), bool(reporter.get("confidential"))


def may_reveal(reporter: dict[str, Any] | None) -> bool:
    """A number can be revealed for a call: there is one, the caller consented to be called
    back and did not ask for confidentiality."""
    consent, confidential = flags(reporter)
    return consent and not confidential and bool((reporter or {}).get("phone"))


def redact_reporter(reporter: dict[str, Any] | None, viewer: Any) -> dict[str, Any] | None:
    """The reporter as ``viewer`` may see it (a new dict, or None when nothing is shown).

    Centre: every stored field, with the two flags spelled out. Outside: ``None`` when
    confidential, else name/phone masked as described above, plus the flags and
    ``can_reveal`` (the number can be revealed for a call: consent and a number; the route
    admits only :data:`REVEALERS` on their own events). It does not depend on the viewer's
    role, so that the live stream's one message per change says the same to every inbox. No
    other stored key leaves the centre.
    """
    if not reporter:
        return None
    if reporter.get("masked") is True:
        # already redacted for someone outside the centre: nothing can be unmasked, and
        # masking a mask again would lose what it keeps
        return dict(reporter)
    consent, confidential = flags(reporter)
    role = role_of(viewer)
    if role in CENTRE_ROLES:
        return {
            **reporter,
            "consent_to_contact": consent,
            "confidential": confidential,
            "masked": False,
            "can_reveal": False,
        }
    if confidential:
        return None
    name = reporter.get("name")
    return {
        "name": name if consent else mask_name(name),
        "phone": mask_phone(reporter.get("phone")),
        "consent_to_contact": consent,
        "confidential": False,
        "masked": True,
        "can_reveal": may_reveal(reporter),
    }


def redact_view(view: dict[str, Any], viewer: Any) -> dict[str, Any]:
    """A copy of an event view (row, API view or summary) with its ``reporter`` redacted for
    ``viewer``; a view without a ``reporter`` key is returned as it is."""
    if "reporter" not in view:
        return view
    return {**view, "reporter": redact_reporter(view.get("reporter"), viewer)}
