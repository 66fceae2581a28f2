"""Known crawler and bot user agents.

The pattern list is the ``crawler-user-agents`` dataset (MIT licence), which
ships as an installed package: nothing is downloaded at run time. Hosts can
add patterns of their own.

Matching runs every pattern at once in one pass over the user agent: an RE2
set (``google-re2``, linear time whatever the number of patterns). Patterns
RE2 cannot take (back-references, look-arounds: none in the bundled list) are
tried one by one with Python's ``re``, and without ``google-re2`` installed
every pattern is (correct, about a hundred times slower on first sight).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["BotUserAgents", "bundled_patterns"]

try:
    import re2 as _re2
except ImportError:  # pragma: no cover - the wheel is a dependency; this keeps odd platforms going
    _re2 = None


def bundled_patterns() -> list[str]:
    """The crawler patterns of the bundled dataset, in its order."""
    import crawleruseragents

    return [str(entry["pattern"]) for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA]


class BotUserAgents:
    """Tells whether a user agent is a known bot, and which pattern says so.

    ``match(ua)`` returns the first matching pattern (in list order) or
    ``None``. It keeps no memo of its own: callers on a hot path remember
    verdicts per user agent.
    """

    __slots__ = ("_fallback", "_patterns", "_set", "_set_index")

    def __init__(self, patterns: Iterable[str] | None = None, *, extra: Iterable[str] = ()) -> None:
        listed = bundled_patterns() if patterns is None else list(patterns)
        self._patterns = [*listed, *extra]
        self._set: Any = None
        self._set_index: list[int] = []  # set slot -> position in the pattern list
        self._fallback: list[tuple[int, re.Pattern[str]]] | None = None

    @property
    def patterns(self) -> tuple[str, ...]:
        return tuple(self._patterns)

    @property
    def engine(self) -> str:
        """``"re2"`` when the set matcher is in use, else ``"re"``."""
        return "re" if _re2 is None else "re2"

    def _compile(self) -> list[tuple[int, re.Pattern[str]]]:
        fallback: list[tuple[int, re.Pattern[str]]] = []
        if _re2 is not None:
            matcher = _re2.Set.SearchSet(_re2.Options())
            for position, pattern in enumerate(self._patterns):
                try:
                    matcher.Add(pattern)
                except _re2.error:
                    fallback.append((position, re.compile(pattern)))
                else:
                    self._set_index.append(position)
            matcher.Compile()
            self._set = matcher
        else:  # pragma: no cover - see the module docstring
            fallback = [(i, re.compile(p)) for i, p in enumerate(self._patterns)]
        self._fallback = fallback
        return fallback

    def match(self, user_agent: str) -> str | None:
        fallback = self._fallback if self._fallback is not None else self._compile()
        first: int | None = None
        if self._set is not None:
            found = self._set.Match(user_agent)
            if found:
                first = min(self._set_index[slot] for slot in found)
        for position, single in fallback:
            if first is not None and position > first:
                break
            if single.search(user_agent):
                first = position
                break
        return None if first is None else self._patterns[first]
