"""The SQLite backend: migration from schema v4, click commits, threads and forks."""
