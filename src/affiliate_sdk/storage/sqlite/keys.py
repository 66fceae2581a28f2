"""``KeyRepo`` on SQLite: sealed secrets kept beside the data."""

from __future__ import annotations

from ._connection import Db

__all__ = ["SqliteKeys"]


class SqliteKeys:
    """Sealed secrets by name, in the caller's unit of work."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def get_sealed(self, name: str) -> str | None:
        """The sealed value kept under ``name``, if any."""
        found = self._db.row("SELECT sealed FROM sealed_secrets WHERE name = ?", (name,))
        return None if found is None else str(found[0])

    def put_sealed(self, name: str, sealed: str, *, replace: bool = False) -> str:
        """Keep ``sealed`` under ``name``; without ``replace`` a value already there wins.
        Returns the value now kept."""
        action = "DO UPDATE SET sealed = excluded.sealed" if replace else "DO NOTHING"
        self._db.run(
            f"INSERT INTO sealed_secrets (name, sealed) VALUES (?, ?) ON CONFLICT (name) {action}",
            (name, sealed),
        )
        kept = self.get_sealed(name)
        return sealed if kept is None else kept
