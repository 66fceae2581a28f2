"""The shared blacklist, complaints per target in time order, enforcement steps."""

from __future__ import annotations

from bisect import bisect_right, insort

from affiliate_sdk.models import Enforcement

from ._undo import UndoLog, del_item, set_item

__all__ = ["MemorySanctions"]


class MemorySanctions:
    """``SanctionRepo`` over dictionaries and per-target sorted complaint instants."""

    __slots__ = (
        "_blacklist",
        "_complaint_ids",
        "_complaints",
        "_enforcements",
        "_log",
        "_revision",
    )

    def __init__(self, log: UndoLog) -> None:
        self._log = log
        self._blacklist: dict[str, str] = {}
        self._complaints: dict[str, list[int]] = {}  # target -> at_ms, sorted
        self._complaint_ids: set[tuple[str, str]] = set()
        self._enforcements: dict[str, list[Enforcement]] = {}
        self._revision = 0  # the blacklist's, counted up by every change

    def put_blacklisted(self, key: str, reason: str | None) -> None:
        """List ``key`` with a reason, or take it off with None."""
        self._revision += 1
        if reason is None:
            del_item(self._log, self._blacklist, key)
        else:
            set_item(self._log, self._blacklist, key, reason)

    def blacklist(self) -> dict[str, str]:
        """Every listed key -> its reason."""
        return dict(self._blacklist)

    def blacklist_revision(self) -> int:
        """Changes with every change of the blacklist."""
        return self._revision

    def add_complaint(self, target: str, complaint_id: str, reason: str, *, at_ms: int) -> None:
        """Count a complaint about ``target`` (a complaint id already counted is ignored)."""
        ident = (target, complaint_id)
        if ident in self._complaint_ids:
            return
        self._complaint_ids.add(ident)
        instants = self._complaints.setdefault(target, [])
        insort(instants, at_ms)
        if self._log.active:

            def undo() -> None:
                instants.remove(at_ms)
                self._complaint_ids.discard(ident)

            self._log.record(undo)

    def complaints_since(self, target: str, *, since_ms: int) -> int:
        """How many complaints about ``target`` came after ``since_ms``."""
        instants = self._complaints.get(target)
        return len(instants) - bisect_right(instants, since_ms) if instants else 0

    def add_enforcement(self, step: Enforcement) -> None:
        """Record an enforcement step."""
        steps = self._enforcements.setdefault(step.affiliate_id, [])
        steps.append(step)
        if self._log.active:
            self._log.record(steps.pop)

    def enforcements(self, affiliate_id: str) -> list[Enforcement]:
        """An affiliate's enforcement steps, oldest first."""
        return list(self._enforcements.get(affiliate_id, ()))
