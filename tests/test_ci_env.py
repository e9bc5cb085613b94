"""What counts as CI ($CI), and what a missing prerequisite does there: fail, not skip."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import in_ci, need

TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize("value", ["", "false", "False", "FALSE", "0", "no", "No", " false "])
def test_ci_off_values_are_not_ci(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci() is False


@pytest.mark.parametrize("value", ["true", "1", "yes", "True", "github-actions"])
def test_other_ci_values_are_ci(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci() is True


def test_unset_ci_is_not_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert in_ci() is False


def test_need_returns_the_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert need("json.decoder").JSONDecoder.__name__ == "JSONDecoder"


@pytest.mark.parametrize(("value", "outcome"), [("true", "fail"), ("false", "skip"), ("", "skip")])
def test_need_fails_in_ci_and_skips_elsewhere(
    value: str, outcome: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", value)
    expected = pytest.fail.Exception if outcome == "fail" else pytest.skip.Exception
    with pytest.raises(expected, match="could not import 'dlcli_no_such_module'"):
        need("dlcli_no_such_module")


@pytest.mark.parametrize(
    ("value", "code", "summary"),
    [("1", 2, "1 error in "), ("no", 0, "1 passed, 1 skipped in ")],
)
def test_a_module_level_need_in_a_real_session(
    value: str, code: int, summary: str, tmp_path: Path
) -> None:
    """As test_torch_oracle.py uses it: at module level, a collection error in CI (the run
    fails), a skipped module elsewhere."""
    (tmp_path / "conftest.py").write_text((TESTS / "conftest.py").read_text())
    (tmp_path / "test_missing.py").write_text(
        textwrap.dedent(
            """\
            from conftest import need

            missing = need("dlcli_no_such_module")


            def test_never_runs():
                assert False
            """
        )
    )
    (tmp_path / "test_present.py").write_text("def test_runs():\n    assert True\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-ra", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "CI": value},
    )
    assert done.returncode == code, done.stdout
    assert done.stdout.splitlines()[-1].startswith(summary), done.stdout
    assert "could not import 'dlcli_no_such_module'" in done.stdout
    assert "During handling" not in done.stdout
