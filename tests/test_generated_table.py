"""The generated churn table, a classification set with words as labels: the generator against
its documented formula written out row by row in plain Python from scalar draws, a few stored
rows with their arithmetic, and ``dlcli data churn`` through the CLI (the file's header, rows
and missing cells, the same bytes for the same seed, the refusals)."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dlcli.cli import app
from dlcli.data.generated import CHURN_COLUMNS, churn

HEADER = "tenure_months,monthly_fee,support_calls,contract,region,status"
SHIFT = {"monthly": 2.0, "yearly": -0.5, "two-year": -3.0}


def dlcli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def churn_by_hand(examples: int, seed: int) -> list[tuple]:
    """The documented draws one value at a time (NumPy's Generator gives the same stream drawn
    singly as in arrays), each column whole before the next, then every row in plain Python:
    z = -2 + 6 e^(-tenure / 12) + 0.08 (fee - 70) + 1.5 max(calls - 1, 0) + shift(contract),
    "leaves" when the label's uniform is below 1 / (1 + e^-z). A missing fee is None here."""
    g = np.random.default_rng(seed)

    def draws(draw: Callable[[], object]) -> list:  # one column: `examples` single draws
        return [draw() for _ in range(examples)]

    tenure = draws(lambda: int(g.integers(1, 73)))
    cents = draws(lambda: int(g.integers(2000, 12001)))
    calls = draws(lambda: int(g.poisson(1.5)))
    contract_u = draws(g.random)
    region = draws(lambda: ["north", "east", "south", "west"][int(g.integers(0, 4))])
    label_u, fee_gone_u, region_gone_u = draws(g.random), draws(g.random), draws(g.random)
    rows = []
    for i in range(examples):
        u = contract_u[i]
        contract = "monthly" if u < 0.5 else "yearly" if u < 0.8 else "two-year"
        fee = cents[i] / 100
        z = (
            -2 + 6 * math.exp(-tenure[i] / 12) + 0.08 * (fee - 70)
            + 1.5 * max(calls[i] - 1, 0) + SHIFT[contract]
        )  # fmt: skip
        status = "leaves" if label_u[i] < 1 / (1 + math.exp(-z)) else "stays"
        rows.append((
            tenure[i], None if fee_gone_u[i] < 0.02 else fee, calls[i], contract,
            None if region_gone_u[i] < 0.03 else region[i], status,
        ))  # fmt: skip
    return rows


def table_rows(table: dict[str, np.ndarray]) -> list[tuple]:
    """The generator's columns as rows of plain Python values, NaN as None."""
    columns = [table[name].tolist() for name in CHURN_COLUMNS]
    rows = []
    for tenure, fee, calls, contract, region, status in zip(*columns, strict=True):
        fee = None if math.isnan(fee) else fee
        rows.append((tenure, fee, calls, contract, region, status))
    return rows


# ---------------------------------------------------------------- the generator


@pytest.mark.parametrize(("examples", "seed"), [(2000, 1), (37, 12345), (1, 0)])
def test_churn_is_the_formula_row_by_row(examples: int, seed: int) -> None:
    table = churn(examples, seed)
    assert list(table) == list(CHURN_COLUMNS)
    assert all(column.shape == (examples,) for column in table.values())
    # Exact: the numbers are whole or whole cents, the labels words, the cells missing or not.
    assert table_rows(table) == churn_by_hand(examples, seed)


def test_churn_stored_rows() -> None:
    """The first rows of churn(6, 1), and the arithmetic that gives three of their labels."""
    rows = table_rows(churn(6, 1))
    assert rows == [
        (35.0, 102.3, 2.0, "monthly", "north", "leaves"),
        (37.0, 114.87, 0.0, "yearly", "south", "stays"),
        (55.0, 44.92, 2.0, "monthly", "east", "stays"),
        (69.0, 51.18, 2.0, "monthly", "south", "leaves"),
        (3.0, 106.91, 0.0, "two-year", "west", "leaves"),
        (11.0, 62.33, 1.0, "two-year", "east", "stays"),
    ]
    # Row 0: z = -2 + 6 e^(-35/12) + 0.08 (102.30 - 70) + 1.5 (2 - 1) + 2 (monthly)
    #          = -2 + 0.3246826 + 2.584 + 1.5 + 2 = 4.4086826; p = 1 / (1 + e^-z) = 0.9879752,
    #          and the label's uniform 0.1606520 < p: leaves.
    # Row 3: z = -2 + 6 e^(-69/12) + 0.08 (51.18 - 70) + 1.5 + 2
    #          = -2 + 0.0190967 - 1.5056 + 3.5 = 0.0134967; p = 0.5033741; u = 0.1158656: leaves.
    # Row 5: z = -2 + 6 e^(-11/12) + 0.08 (62.33 - 70) + 0 - 3 (two-year)
    #          = -2 + 2.3990979 - 0.6136 - 3 = -3.2145021; p = 0.0386236; u = 0.7766831: stays.
    for (tenure, fee, calls, contract, _, _), p in zip(
        [rows[0], rows[3], rows[5]], [0.9879752, 0.5033741, 0.0386236], strict=True
    ):
        z = -2 + 6 * math.exp(-tenure / 12) + 0.08 * (fee - 70) + 1.5 * max(calls - 1, 0)
        assert 1 / (1 + math.exp(-z - SHIFT[contract])) == pytest.approx(p, abs=1e-7)
    g = np.random.default_rng(1)  # the labels' uniforms: the draws after five whole columns
    g.integers(1, 73, 6), g.integers(2000, 12001, 6), g.poisson(1.5, 6), g.random(6)
    g.integers(0, 4, 6)
    np.testing.assert_allclose(g.random(6)[[0, 3, 5]], [0.1606520, 0.1158656, 0.7766831], atol=1e-7)


def test_contract_matters_region_does_not() -> None:
    """Over 20,000 rows: leaving is far likelier on a monthly contract than a two-year one,
    while each region's share of leavers is the whole table's within sampling noise (about
    5,000 rows a region: a standard error of 0.007, so 0.03 is over four of them)."""
    table = churn(20_000, 3)
    leaves = table["status"] == "leaves"
    rate = {c: leaves[table["contract"] == c].mean() for c in SHIFT}
    assert rate["monthly"] > rate["yearly"] + 0.15 > rate["two-year"] + 0.3
    for region in ("north", "east", "south", "west"):
        assert abs(leaves[table["region"] == region].mean() - leaves.mean()) < 0.03
    # A few missing cells, about 2% of fees and 3% of regions, nowhere else.
    assert 0.01 < np.isnan(table["monthly_fee"]).mean() < 0.03
    assert 0.02 < (table["region"] == None).mean() < 0.04  # noqa: E711 (elementwise)
    assert not np.isnan(table["tenure_months"]).any() and None not in table["status"]


# ---------------------------------------------------------------- dlcli data churn


def read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_data_churn_writes_the_table(in_tmp: Path) -> None:
    code, out, err = dlcli("data", "churn", "--out", "churn.csv", "--examples", "200")
    assert (code, err) == (0, "")
    expected = churn_by_hand(200, 1)
    statuses = [row[5] for row in expected]
    fees_gone = sum(row[1] is None for row in expected)
    regions_gone = sum(row[4] is None for row in expected)
    assert fees_gone > 0 and regions_gone > 0
    assert out.splitlines() == [
        "wrote churn.csv: 200 rows, columns tenure_months, monthly_fee, support_calls, "
        "contract, region, status",
        f"status: stays {statuses.count('stays')}, leaves {statuses.count('leaves')}; "
        f"missing cells: monthly_fee {fees_gone} (empty), region {regions_gone} (NA)",
        "Train on it: dlcli train configs/churn.yaml --set data.generate=null "
        "--set data.train=churn.csv",
    ]
    text = Path("churn.csv").read_text(encoding="utf-8")
    assert text.startswith(HEADER + "\n") and text.endswith("\n") and "\r" not in text
    rows = read_rows(Path("churn.csv"))
    assert rows[0] == HEADER.split(",") and len(rows) == 201
    for cells, (tenure, fee, calls, contract, region, status) in zip(
        rows[1:], expected, strict=True
    ):
        # Whole numbers without ".0"; a fee that reads back as the same float; a missing fee
        # an empty cell, a missing region "NA".
        assert cells[0] == str(tenure) and cells[2] == str(calls)
        assert cells[1] == "" if fee is None else float(cells[1]) == fee
        assert cells[3:] == [contract, "NA" if region is None else region, status]
    assert sum(cells[1] == "" for cells in rows[1:]) == fees_gone
    assert sum(cells[4] == "NA" for cells in rows[1:]) == regions_gone


def test_data_churn_stored_lines(in_tmp: Path) -> None:
    """churn(6, 1)'s rows as text (see test_churn_stored_rows), and a file with both kinds of
    missing cell: of 40 rows with seed 1, row 15 (counting from 0; line 17 of the file) has
    an empty fee and row 10 (line 12) region NA."""
    assert dlcli("data", "churn", "--out", "six.csv", "--examples", "6")[0] == 0
    assert Path("six.csv").read_text().splitlines()[:3] == [
        HEADER,
        "35,102.3,2,monthly,north,leaves",
        "37,114.87,0,yearly,south,stays",
    ]
    assert dlcli("data", "churn", "--out", "forty.csv", "--examples", "40")[0] == 0
    rows = read_rows(Path("forty.csv"))[1:]
    assert [i for i, cells in enumerate(rows) if "" in cells] == [15]
    assert [i for i, cells in enumerate(rows) if "NA" in cells] == [10]
    assert rows[15][1] == "" and rows[10][4] == "NA"


def test_data_churn_same_seed_same_bytes(in_tmp: Path) -> None:
    for name, seed in [("a.csv", "7"), ("b.csv", "7"), ("c.csv", "8")]:
        code, _, err = dlcli("data", "churn", "--out", name, "--examples", "300", "--seed", seed)
        assert (code, err) == (0, "")
    a, b, c = (Path(name).read_bytes() for name in ("a.csv", "b.csv", "c.csv"))
    assert a == b
    assert a != c and a.splitlines()[0] == c.splitlines()[0]
    # The default seed is 1: the same bytes as --seed 1.
    assert dlcli("data", "churn", "--out", "d.csv", "--examples", "300")[0] == 0
    assert dlcli("data", "churn", "--out", "e.csv", "--examples", "300", "--seed", "1")[0] == 0
    assert Path("d.csv").read_bytes() == Path("e.csv").read_bytes()


def test_data_churn_refusals(in_tmp: Path) -> None:
    Path("taken.csv").write_text("keep me\n")
    Path("folder").mkdir()
    for args, message in [
        (["--out", "taken.csv"], "--out taken.csv: exists already; pass --force to replace it"),
        (["--out", "folder"], "--out folder: is a directory, expected a file name ending in .csv"),
        (["--out", "nowhere/t.csv"], "--out nowhere/t.csv: folder nowhere does not exist"),
        (["--examples", "0"], "--examples: must be 1 to 10000000, found 0"),
        (["--examples", "10000001"], "--examples: must be 1 to 10000000, found 10000001"),
        (["--seed", "-1"], "--seed: must be 0 to 2^32-1, found -1"),
        (["--seed", "4294967296"], "--seed: must be 0 to 2^32-1, found 4294967296"),
    ]:
        code, out, err = dlcli("data", "churn", "--out", "new.csv", *args)
        assert (code, out, err) == (1, "", f"dlcli: error: {message}\n")
    assert Path("taken.csv").read_text() == "keep me\n"
    assert not Path("new.csv").exists()
    code, _, err = dlcli("data", "churn", "--out", "taken.csv", "--examples", "3", "--force")
    assert (code, err) == (0, "")
    assert Path("taken.csv").read_text().splitlines()[0] == HEADER
