"""Shared fixtures. The course's cat files are read from $DLCLI_CATVNONCAT, by default
../shared/data/catvnoncat beside the repository; they are never copied into it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
CAT_DIR = Path(os.environ.get("DLCLI_CATVNONCAT", REPO.parent / "shared" / "data" / "catvnoncat"))


@pytest.fixture
def cat_files() -> tuple[Path, Path]:
    """(train, test) course files; a failure in CI, a skip with the reason elsewhere."""
    train, test = CAT_DIR / "train_catvnoncat.h5", CAT_DIR / "test_catvnoncat.h5"
    if not (train.is_file() and test.is_file()):
        reason = f"course cat files not found in {CAT_DIR} (set DLCLI_CATVNONCAT to their folder)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
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
