"""The console's keyboard shortcuts: each action, its default key, and an agent's own
choice (on or off, and remapped keys), stored on their AgentProfile.

Single-character shortcuts without a modifier can be set off by speech input or a
stray key press, so WCAG 2.1.4 (Character Key Shortcuts) asks that they can be turned
off or remapped; Esc and Enter are not character keys and always work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# action -> (default key, what it does), in the order the shortcut strip lists them.
ACTIONS: dict[str, tuple[str, str]] = {
    "call": ("c", "start call"),
    "search": ("/", "search patient"),
    "register": ("r", "register"),
    "slots": ("s", "slot finder"),
    "next": ("n", "next slot"),
    "previous": ("p", "previous slot"),
    "hold": ("h", "hold slot"),
    "book": ("b", "book"),
    "wrapup": ("w", "wrap up"),
}


@dataclass(frozen=True)
class Shortcuts:
    enabled: bool
    keys: dict[str, str]  # action -> key

    @property
    def rows(self) -> list[tuple[str, str, str]]:
        """(action, key, label) in the strip's order."""
        return [(action, self.keys[action], label) for action, (_, label) in ACTIONS.items()]

    def as_json(self) -> dict[str, Any]:
        """What console.js reads: key -> action, and whether shortcuts are on."""
        return {"enabled": self.enabled, "keys": {key: a for a, key in self.keys.items()}}


DEFAULT = Shortcuts(enabled=True, keys={a: key for a, (key, _) in ACTIONS.items()})


def shortcuts_from(stored: dict[str, Any] | None) -> Shortcuts:
    """An agent's shortcuts from what their profile stores; anything unusable (an unknown
    action, a key that is not one character, a key used twice) falls back to the default."""
    stored = stored or {}
    keys = dict(DEFAULT.keys)
    for action, key in (stored.get("keys") or {}).items():
        if action in ACTIONS and isinstance(key, str) and len(key) == 1 and not key.isspace():
            keys[action] = key
    if len(set(keys.values())) != len(keys):
        keys = dict(DEFAULT.keys)
    return Shortcuts(enabled=bool(stored.get("enabled", True)), keys=keys)
