"""Known crawler and bot user agents.

The pattern list is the ``crawler-user-agents`` dataset (MIT licence), which
ships as an installed package: nothing is downloaded at run time. Hosts can
add patterns of their own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["BotUserAgents", "bundled_patterns"]


def bundled_patterns() -> list[str]:
    """The crawler patterns of the bundled dataset, in its order."""
    import crawleruseragents

    return [str(entry["pattern"]) for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA]


class BotUserAgents:
    """Tells whether a user agent is a known bot, and which pattern says so.

    ``match(ua)`` returns the first matching pattern or ``None``. It keeps no
    memo of its own: callers on a hot path remember verdicts per user agent.
    """

    __slots__ = ("_combined", "_patterns", "_singles")

    def __init__(self, patterns: Iterable[str] | None = None, *, extra: Iterable[str] = ()) -> None:
        listed = bundled_patterns() if patterns is None else list(patterns)
        self._patterns = [*listed, *extra]
        self._combined: re.Pattern[str] | None = None
        self._singles: list[re.Pattern[str]] = []

    @property
    def patterns(self) -> tuple[str, ...]:
        return tuple(self._patterns)

    def _compile(self) -> re.Pattern[str]:
        self._singles = [re.compile(p) for p in self._patterns]
        self._combined = re.compile("|".join(f"(?:{p})" for p in self._patterns))
        return self._combined

    def match(self, user_agent: str) -> str | None:
        combined = self._combined or self._compile()
        if combined.search(user_agent):
            for pattern, single in zip(self._patterns, self._singles, strict=True):
                if single.search(user_agent):
                    return pattern
        return None
