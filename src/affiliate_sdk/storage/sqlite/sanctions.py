"""``SanctionRepo`` on SQLite: the shared blacklist, complaints, enforcement steps."""

from __future__ import annotations

from affiliate_sdk.models import Enforcement

from ._connection import Db

__all__ = ["SqliteSanctions"]


class SqliteSanctions:
    """Platform-level sanctions, in the caller's unit of work."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def put_blacklisted(self, key: str, reason: str | None) -> None:
        """List ``key`` with a reason, or take it off with None."""
        if reason is None:
            self._db.run("DELETE FROM blacklist WHERE key = ?", (key,))
            return
        self._db.run(
            "INSERT INTO blacklist (key, reason) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET reason = excluded.reason",
            (key, reason),
        )

    def blacklist(self) -> dict[str, str]:
        """Every listed key -> its reason."""
        rows = self._db.rows("SELECT key, reason FROM blacklist ORDER BY key")
        return {str(key): str(reason) for key, reason in rows}

    def blacklist_revision(self) -> int:
        """The blacklist's revision: counted up by a trigger at every change of it."""
        found = self._db.row("SELECT n FROM revisions WHERE name = 'blacklist'")
        return 0 if found is None else int(str(found[0]))

    def add_complaint(self, target: str, complaint_id: str, reason: str, *, at_ms: int) -> None:
        """Record a complaint about ``target``."""
        self._db.run(
            "INSERT INTO complaints (target, at_ms, complaint_id, reason) VALUES (?, ?, ?, ?)",
            (target, at_ms, complaint_id, reason),
            what="complaint",
            key=f"{target}/{complaint_id}",
        )

    def complaints_since(self, target: str, *, since_ms: int) -> int:
        """How many complaints about ``target`` came after ``since_ms``."""
        found = self._db.row(
            "SELECT count(*) FROM complaints WHERE target = ? AND at_ms > ?", (target, since_ms)
        )
        return 0 if found is None else int(str(found[0]))

    def add_enforcement(self, step: Enforcement) -> None:
        """Record an enforcement step."""
        self._db.run(
            "INSERT INTO enforcements (affiliate_id, data) VALUES (?, ?)",
            (step.affiliate_id, step.model_dump_json()),
        )

    def enforcements(self, affiliate_id: str) -> list[Enforcement]:
        """An affiliate's enforcement steps, oldest first."""
        rows = self._db.rows(
            "SELECT data FROM enforcements WHERE affiliate_id = ? ORDER BY id", (affiliate_id,)
        )
        return [Enforcement.model_validate_json(str(row[0])) for row in rows]
