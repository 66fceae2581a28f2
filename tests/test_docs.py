"""Every Python example in the README and docs/ runs, page by page, in a fresh directory."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .servers import POSTGRES_URL, postgres_schema_name

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_pages_with_examples_exist() -> None:
    names = {page.name for page in PAGES if _BLOCK.search(page.read_text())}
    assert {"README.md", "quickstart.md", "links.md", "clicks.md", "orders.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = _BLOCK.findall(page.read_text())
    if not blocks:
        assert page.name == "performance.md", f"{page.name} has no runnable example"
        return
    monkeypatch.chdir(tmp_path)
    if any("DATABASE_URL" in block for block in blocks):  # an example on PostgreSQL
        postgres_schema_name()  # the server answers (else skipped, or failed under CI)
        monkeypatch.setenv("DATABASE_URL", POSTGRES_URL)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for number, block in enumerate(blocks, 1):
        code = compile(block, f"{page.name} (example {number})", "exec")
        exec(code, namespace)
