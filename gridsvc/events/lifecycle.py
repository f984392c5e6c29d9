"""The event lifecycle as a state machine (pure: no database, no clock).

received → routed → dispatched → signed_for (签收) → on_scene (到场) → handled (处置)
→ verified (核查) → closed (结案), plus:

- return (退单): the unit sent it is not responsible; back to the centre (``returned``),
  which routes it again;
- transfer (改派): send it to another unit before it is handled;
- reject (核查不通过): verification failed, back on scene for rework;
- suspend (挂账) / resume: park a case that cannot be solved now, and pick it up again;
- extension (延期) is not a state: it is a request that, once approved, moves the deadline.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridsvc.errors import Conflict, Invalid

STATES = (
    "received",
    "routed",
    "dispatched",
    "signed_for",
    "on_scene",
    "handled",
    "verified",
    "closed",
    "returned",
    "suspended",
)
OPEN_STATES = frozenset(STATES) - {"closed"}

STATE_NAMES_ZH = {
    "received": "已接收",
    "routed": "已分拨",
    "dispatched": "已派遣",
    "signed_for": "已签收",
    "on_scene": "已到场",
    "handled": "已处置",
    "verified": "已核查",
    "closed": "已结案",
    "returned": "已退单",
    "suspended": "已挂账",
}


@dataclass(frozen=True)
class Action:
    name: str
    from_states: frozenset[str]
    to_state: str | None  # None: decided at run time (resume returns to the parked state)
    needs_note: bool = False
    name_zh: str = ""


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action("route", frozenset({"received", "returned"}), "routed", name_zh="分拨"),
        Action("dispatch", frozenset({"routed"}), "dispatched", name_zh="派遣"),
        Action("sign_for", frozenset({"dispatched"}), "signed_for", name_zh="签收"),
        Action("arrive", frozenset({"signed_for"}), "on_scene", name_zh="到场"),
        Action("handle", frozenset({"on_scene"}), "handled", needs_note=True, name_zh="处置"),
        Action("verify", frozenset({"handled"}), "verified", name_zh="核查"),
        Action(
            "reject", frozenset({"handled", "verified"}), "on_scene", needs_note=True, name_zh="核查不通过"
        ),
        Action("close", frozenset({"verified"}), "closed", name_zh="结案"),
        Action(
            "return",
            frozenset({"dispatched", "signed_for", "on_scene"}),
            "returned",
            needs_note=True,
            name_zh="退单",
        ),
        Action(
            "transfer",
            frozenset({"routed", "dispatched", "signed_for", "returned"}),
            "dispatched",
            needs_note=True,
            name_zh="改派",
        ),
        Action(
            "suspend",
            frozenset(OPEN_STATES - {"suspended", "received"}),
            "suspended",
            needs_note=True,
            name_zh="挂账",
        ),
        Action("resume", frozenset({"suspended"}), None, name_zh="恢复"),
    )
}


class IllegalTransition(Conflict):
    """An action not allowed in the event's current state (409, with the allowed actions)."""

    error_code = "illegal_transition"

    def __init__(self, *, action: str, state: str) -> None:
        self.action = action
        self.state = state
        self.allowed = allowed_actions(state)
        super().__init__(
            f"cannot {action} an event that is {state}; allowed now: "
            f"{', '.join(self.allowed) or 'nothing (closed)'}",
            extra={"state": state, "action": action, "allowed_actions": self.allowed},
        )


class MissingNote(Invalid, ValueError):
    def __init__(self, action: str) -> None:
        message = f"{action} needs a note (the reason or the reply text)"
        super().__init__(message, fields=[{"field": "body.note", "reason": message}])


def allowed_actions(state: str) -> list[str]:
    return [name for name, action in ACTIONS.items() if state in action.from_states]


def next_state(*, state: str, action: str, note: str | None = None, suspended_from: str | None = None) -> str:
    """The state after ``action``; raises :class:`IllegalTransition` or :class:`MissingNote`."""
    spec = ACTIONS.get(action)
    if spec is None:
        raise ValueError(f"unknown action {action!r}; actions: {', '.join(ACTIONS)}")
    if state not in spec.from_states:
        raise IllegalTransition(action=action, state=state)
    if spec.needs_note and not (note and note.strip()):
        raise MissingNote(action)
    if spec.to_state is None:
        return suspended_from or "routed"
    return spec.to_state


# Which SLA stage runs while the event is in a state (None: no clock runs).
STAGE_OF_STATE = {
    "received": "route",
    "returned": "route",
    "routed": "dispatch",
    "dispatched": "sign_for",
    "signed_for": "arrive",
    "on_scene": "handle",
    "handled": "verify",
    "verified": "close",
}
