"""Shared fixtures and helpers. The course's cat files are read from $DLCLI_CATVNONCAT, by
default ../shared/data/catvnoncat beside the repository; they are never copied into it.

In CI (see :func:`in_ci`) a missing prerequisite fails the run instead of skipping: a skip
there would hide a test that never ran."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
CAT_DIR = Path(os.environ.get("DLCLI_CATVNONCAT", REPO.parent / "shared" / "data" / "catvnoncat"))
# Values of $CI that mean "not CI", compared after stripping and lower-casing.
NOT_CI = frozenset({"", "false", "0", "no"})


def in_ci() -> bool:
    """Whether the tests run in CI: $CI is set to anything but "", "false", "0" or "no"."""
    return os.environ.get("CI", "").strip().lower() not in NOT_CI


def missing(reason: str) -> NoReturn:
    """A prerequisite is missing: fail in CI, skip with the reason elsewhere."""
    if in_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def need(module: str) -> ModuleType:
    """Import ``module`` for a test (as ``pytest.importorskip``), failing in CI when it is
    missing and skipping elsewhere; may be called at module level."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        reason = f"could not import {module!r}: {exc}"
    missing(reason)  # outside the except: the report shows the reason, not a chained traceback


@pytest.fixture
def cat_files() -> tuple[Path, Path]:
    """(train, test) course files; a failure in CI, a skip with the reason elsewhere."""
    train, test = CAT_DIR / "train_catvnoncat.h5", CAT_DIR / "test_catvnoncat.h5"
    if not (train.is_file() and test.is_file()):
        missing(f"course cat files not found in {CAT_DIR} (set DLCLI_CATVNONCAT to their folder)")
    return train, test


@pytest.fixture
def cat_overrides(cat_files: tuple[Path, Path]) -> list[str]:
    """--set arguments pointing a shipped cat config at the course files."""
    train, test = cat_files
    return [f"data.train={train}", f"data.test={test}"]


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test in an empty temporary directory (runs/ lands there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
