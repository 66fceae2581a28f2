"""``CounterRepo`` on PostgreSQL: the velocity windows' buckets in the host's database.

Two tables in the schema named at construction (made if missing): ``counters`` (key,
bucket, count; keys in byte order, ``COLLATE "C"``, so a namespace is a key range) and
``counter_writers`` (the latest bucket each writer added to, per namespace). An exchange
is one transaction: the rows, summed per key and bucket and taken in key order (so two
processes' exchanges lock the same rows in the same order and never deadlock), one upsert
statement; the writer's row; whether another writer counted since; the sums, one query.
"""

from __future__ import annotations

from collections.abc import Sequence

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random

from affiliate_sdk.errors import StorageError, UnsupportedStore
from affiliate_sdk.storage._urls import redacted, scrubbed

from ._pools import LazyPool, open_pool
from ._schema import DEFAULT_SCHEMA, check_schema_name, counter_tables

__all__ = ["DEFAULT_SCHEMA", "PostgresCounters"]


class PostgresCounters:
    """Velocity counts shared by every process on one PostgreSQL database."""

    #: Every process on the database sees these counts.
    shared: bool = True

    def __init__(
        self,
        conninfo: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        max_size: int = 4,
        create: bool = True,
    ) -> None:
        """``create``: make the schema and tables if missing (a ``PostgresStore``'s
        migrations made them already, and its role may not be allowed to create)."""
        try:
            import psycopg
            import psycopg_pool  # noqa: F401  (the extra's other half)
        except ImportError as exc:  # the optional extra is not installed
            raise UnsupportedStore(redacted(conninfo), "it with the postgres extra") from exc
        check_schema_name(schema)
        self._errors: tuple[type[BaseException], ...] = (psycopg.Error,)
        self.url = redacted(conninfo)
        self._schema = schema
        self._conninfo = conninfo
        self._pool = LazyPool(
            lambda: open_pool(
                conninfo, max_size=max_size, autocommit=False, doing="open counters on"
            )
        )
        try:
            with self._pool.get().connection() as conn:
                for statement in counter_tables(schema) if create else ():
                    conn.execute(statement)
        except self._errors as exc:
            self._pool.close()
            raise StorageError(
                f"cannot open counters on {self.url}: {scrubbed(str(exc), self._conninfo)}"
            ) from exc
        self._sql = _statements(schema)

    def reopen(self) -> None:
        """In a forked child: a pool of its own at first use; the parent's is kept unused."""
        self._pool.forget()

    def exchange(
        self,
        namespace: str,
        writer: str,
        rows: Sequence[tuple[str, int, int]],
        keys: Sequence[str],
        *,
        since_bucket: int,
    ) -> list[tuple[int, int]] | None:
        """``CounterRepo.exchange``: one transaction (again, should the server end it as a
        deadlock victim: nothing of it was kept)."""
        try:
            for attempt in _deadlocks():
                with attempt:
                    return self._exchange(namespace, writer, rows, keys, since_bucket)
        except self._errors as exc:
            raise StorageError(
                f"cannot exchange counters on {self.url}: {scrubbed(str(exc), self._conninfo)}"
            ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _exchange(
        self,
        namespace: str,
        writer: str,
        rows: Sequence[tuple[str, int, int]],
        keys: Sequence[str],
        since_bucket: int,
    ) -> list[tuple[int, int]] | None:
        sql = self._sql
        with self._pool.get().connection() as conn:
            if rows:
                conn.execute(
                    sql["add"],
                    (
                        [key for key, _, _ in rows],
                        [bucket for _, bucket, _ in rows],
                        [count for _, _, count in rows],
                    ),
                )
                latest = max(bucket for _, bucket, _ in rows)
                conn.execute(sql["wrote"], (namespace, writer, latest))
            others = conn.execute(sql["others"], (namespace, writer, since_bucket)).fetchone()
            if others is None:
                return None
            found = dict.fromkeys(keys, (0, 0))
            wanted = list(found)
            for key, total, rest in conn.execute(sql["sums"], (since_bucket, wanted, since_bucket)):
                found[key] = (int(total), int(rest))
            return [found[key] for key in keys]

    def prune(self, namespace: str, *, before_bucket: int) -> None:
        """``CounterRepo.prune``: one transaction (again, should it be a deadlock victim)."""
        try:
            for attempt in _deadlocks():
                with attempt, self._pool.get().connection() as conn:
                    # the keys from "namespace/" up to "namespace0", the character after "/"
                    bounds = (f"{namespace}/", f"{namespace}0", before_bucket)
                    conn.execute(self._sql["prune"], bounds)
                    conn.execute(self._sql["forget"], (namespace, before_bucket))
        except self._errors as exc:
            raise StorageError(
                f"cannot prune counters on {self.url}: {scrubbed(str(exc), self._conninfo)}"
            ) from exc

    def close(self) -> None:
        """Close the pool's connections."""
        self._pool.close()


def _deadlocks() -> Retrying:
    """Up to three attempts of a transaction PostgreSQL ended as a deadlock's victim."""
    from psycopg.errors import DeadlockDetected

    return Retrying(
        retry=retry_if_exception_type(DeadlockDetected),
        stop=stop_after_attempt(3),
        wait=wait_random(0, 0.05),
        reraise=True,
    )


def _statements(schema: str) -> dict[str, str]:
    counters, writers = f"{schema}.counters", f"{schema}.counter_writers"
    return {
        "add": (
            f"INSERT INTO {counters} AS c (key, bucket, count) "
            "SELECT k, b, sum(n) FROM unnest(%s::text[], %s::bigint[], %s::bigint[]) AS r(k, b, n) "
            'GROUP BY k, b ORDER BY k COLLATE "C", b '
            "ON CONFLICT (key, bucket) DO UPDATE SET count = c.count + excluded.count"
        ),
        "wrote": (
            f"INSERT INTO {writers} AS w (namespace, writer, bucket) VALUES (%s, %s, %s) "
            "ON CONFLICT (namespace, writer) DO UPDATE SET bucket = greatest(w.bucket, "
            "excluded.bucket)"
        ),
        "others": (
            f"SELECT 1 FROM {writers} WHERE namespace = %s AND writer <> %s AND bucket >= %s "
            "LIMIT 1"
        ),
        "sums": (
            "SELECT key, sum(count), coalesce(sum(count) FILTER (WHERE bucket > %s), 0) "
            f"FROM {counters} WHERE key = ANY(%s) AND bucket >= %s GROUP BY key"
        ),
        # rows taken in key order, as the exchanges take them: the two never deadlock
        "prune": (
            f"WITH old AS (SELECT key, bucket FROM {counters} WHERE key >= %s AND key < %s "
            'AND bucket < %s ORDER BY key COLLATE "C", bucket FOR UPDATE) '
            f"DELETE FROM {counters} AS c USING old WHERE c.key = old.key AND c.bucket = old.bucket"
        ),
        "forget": f"DELETE FROM {writers} WHERE namespace = %s AND bucket < %s",
    }
