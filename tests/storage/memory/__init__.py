"""The memory backend: its indexes and what a rollback leaves."""
