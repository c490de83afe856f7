"""Bounded messages: a value a user typed is shown, never repeated in full.

Juju passes a status message or an action result to its hook tool as one command-line argument,
and Linux refuses any single argument over 128 KiB (MAX_ARG_STRLEN) with E2BIG: the hook then
crashes and sets no status at all. So every value is shortened where a message quotes it, and
every message as a whole is bounded. This module imports neither ops nor lightkube.
"""

from __future__ import annotations

SHOWN_CHARACTERS = 60
"""How much of a value a message quotes."""
MESSAGE_LIMIT = 1000
"""The longest status message or action failure the charm sets, in characters."""


def shown(value: object) -> str:
    """Return the value's repr for a message, shortened past SHOWN_CHARACTERS with its length."""
    text = repr(value)
    if len(text) <= SHOWN_CHARACTERS:
        return text
    size = f" ({len(value)} characters)" if isinstance(value, str) else ""
    return f"{text[:SHOWN_CHARACTERS]}…{size}"


def cut(text: str) -> str:
    """Return the text as it is, or its start and its length when longer than SHOWN_CHARACTERS."""
    if len(text) <= SHOWN_CHARACTERS:
        return text
    return f"{text[:SHOWN_CHARACTERS]}… ({len(text)} characters)"


def bounded(message: str) -> str:
    """Return the message cut to MESSAGE_LIMIT characters, saying so when it was cut."""
    if len(message) <= MESSAGE_LIMIT:
        return message
    return message[: MESSAGE_LIMIT - 1] + "…"
