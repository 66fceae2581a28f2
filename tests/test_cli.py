from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from affiliate_sdk.cli import main


def _demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "affiliate_sdk.cli", "demo", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )


def test_demo_prints_a_summary_and_is_deterministic(tmp_path: Path) -> None:
    first = _demo(tmp_path, "--clicks", "1500", "--seed", "3")
    assert first.returncode == 0, first.stderr
    out = first.stdout
    for label in (
        "clicks",
        "blocked clicks",
        "orders",
        "GMV",
        "refunds",
        "platform take",
        "merchants owe",
        "commission per affiliate",
        "balanced to the cent for 3 merchants",
        "hash chain verified",
    ):
        assert label in out
    assert re.search(r"^clicks\s+1,500\b", out, re.MULTILINE)
    found = re.search(r"^blocked clicks\s+([\d,]+)", out, re.MULTILINE)
    assert found is not None
    blocked = int(found[1].replace(",", ""))
    assert 20 <= blocked <= 110  # about 4% of 1,500 are bots
    assert (tmp_path / "affiliate-demo.db").exists()
    again = _demo(tmp_path, "--clicks", "1500", "--seed", "3")
    assert again.stdout == out
    other = _demo(tmp_path, "--clicks", "1500", "--seed", "4")
    assert other.stdout != out


def test_demo_summary_balances(tmp_path: Path) -> None:
    from affiliate_sdk.demo import run_demo

    summary = run_demo(tmp_path / "d.db", clicks=800, seed=11)
    affiliates = sum((m for m in summary.per_affiliate.values()), summary.platform_take)
    assert affiliates == summary.merchants_owe
    assert summary.orders >= summary.attributed_orders
    assert summary.blocked_clicks > 0
    assert summary.reconciled_merchants == 3
    assert summary.ledger_entries >= summary.attributed_orders


def test_demo_refuses_to_overwrite_a_foreign_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    precious = tmp_path / "notes.db"
    precious.write_text("not a demo database")
    assert main(["demo", "--db", str(precious), "--clicks", "10"]) == 1
    assert "not a demo database" in capsys.readouterr().err
    assert precious.read_text() == "not a demo database"


def test_keys_new_prints_a_fresh_256_bit_secret(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "new"]) == 0
    first = capsys.readouterr().out.strip()
    assert main(["keys", "new"]) == 0
    second = capsys.readouterr().out.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert first != second
    assert len(bytes.fromhex(first)) == 32


def test_bad_arguments_exit_with_usage() -> None:
    with pytest.raises(SystemExit) as info:
        main(["demo", "--clicks", "0"])
    assert info.value.code == 2


def test_progress_bar_draws_on_a_terminal_only(tmp_path: Path) -> None:
    import io

    from affiliate_sdk.demo import run_demo

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal, pipe = Terminal(), io.StringIO()
    run_demo(tmp_path / "t.db", clicks=1000, seed=1, progress=terminal)
    run_demo(tmp_path / "p.db", clicks=1000, seed=1, progress=pipe)
    drawn = terminal.getvalue()
    assert "\r[" in drawn
    assert "100% 1,000/1,000 clicks" in drawn
    assert drawn.endswith("\n")
    assert pipe.getvalue() == ""
