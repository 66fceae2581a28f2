"""The CatalogContract on every registered backend."""

from __future__ import annotations

from affiliate_sdk.testing.contract import CatalogContract


class TestCatalog(CatalogContract):
    pass
