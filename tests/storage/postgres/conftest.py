"""What the PostgreSQL tests share: a schema name of their own, dropped afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ...servers import drop_schemas, postgres_schema_name


@pytest.fixture
def schema() -> Iterator[str]:
    name = postgres_schema_name()
    try:
        yield name
    finally:
        drop_schemas([name])
