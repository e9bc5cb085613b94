"""The CSV reader (issue 13, points 4 and 8): every form people write a CSV in reads to the same
columns as a plain comma file; each bad file is one line naming the row; missing cells are
NaN or "" with a mask; a file larger than the memory free is refused before it is read; the
pyarrow path gives Python's ``float`` to the last bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from dlcli import sysinfo
from dlcli.cli import app
from dlcli.data.csvread import MISSING, CsvTable, parse_rows, read_csv, read_csv_any
from dlcli.data.tables import read_csv_rows, read_csv_table
from dlcli.errors import DataError

# A table with a text column whose cells hold the delimiters, and numbers in the forms people
# write them. Row by row: (city, size, rooms, price).
ROWS = [
    ("Paris, FR", "1.5", "3", "300"),
    ("Lyon; FR", "-2e3", "+4", "250.25"),
    ("Nice\tFR", ".5", "007", "-0"),
]


def lines_of(delimiter: str, quote_all: bool = False) -> list[str]:
    """The header and ROWS joined by ``delimiter``, quoting a cell that holds it (or all)."""

    def cell(text: str) -> str:
        return f'"{text}"' if quote_all or delimiter in text else text

    rows = [("city", "size", "rooms", "price"), *ROWS]
    return [delimiter.join(cell(text) for text in row) for row in rows]


def dlcli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def same_table(a: CsvTable, b: CsvTable) -> None:
    assert a.header == b.header
    assert a.lines.tolist() == b.lines.tolist()
    for name in a.header:
        assert a.columns[name].dtype == b.columns[name].dtype
        if a.columns[name].dtype == np.float64:
            assert a.columns[name].tobytes() == b.columns[name].tobytes()
        else:
            assert a.columns[name].tolist() == b.columns[name].tolist()
        assert a.missing[name].tolist() == b.missing[name].tolist()


# ---------------------------------------------------------------- forms that read the same


def test_plain_comma_file(in_tmp: Path) -> None:
    Path("t.csv").write_text("\n".join(lines_of(",")) + "\n")
    table = read_csv(Path("t.csv"))
    assert table.header == ["city", "size", "rooms", "price"]
    assert (table.m, table.lines.tolist(), table.key) == (3, [2, 3, 4], "data.train")
    assert table.columns["city"].tolist() == ["Paris, FR", "Lyon; FR", "Nice\tFR"]
    assert table.columns["size"].tolist() == [1.5, -2000.0, 0.5]
    assert table.columns["rooms"].tolist() == [3.0, 4.0, 7.0]
    assert table.columns["price"].tolist() == [300.0, 250.25, 0.0]
    assert np.signbit(table.columns["price"][2])  # "-0" is -0.0, as float() reads it
    assert not any(mask.any() for mask in table.missing.values())


@pytest.mark.parametrize(
    "text",
    [
        "\n".join(lines_of(";")) + "\n",
        "\n".join(lines_of("\t")) + "\n",
        "\n".join(lines_of(",", quote_all=True)) + "\n",
        "\ufeff" + "\n".join(lines_of(",")) + "\n",
        "\r\n".join(lines_of(",")) + "\r\n",
        "\n".join(lines_of(",")) + "\n\n\n  \n",
        "\n".join(lines_of(",")),  # no line end at the end
        "\ufeff" + "\r\n".join(lines_of(";", quote_all=True)) + "\r\n\r\n",
    ],
    ids=["semicolon", "tab", "quoted", "bom", "crlf", "blank-trailing", "no-final-newline", "all"],
)
def test_forms_read_as_the_comma_file(in_tmp: Path, text: str) -> None:
    Path("plain.csv").write_text("\n".join(lines_of(",")) + "\n")
    Path("form.csv").write_bytes(text.encode())
    same_table(read_csv(Path("form.csv")), read_csv(Path("plain.csv")))


NUMBERS = "a;b\r\n1.5;2\r\n\r\n-3e-2;40\r\n"


def test_numbers_by_both_paths(in_tmp: Path) -> None:
    """A file of plain numbers, the same file with one quoted number, and with a quoted
    header: the same table, blank line 3 skipped and counted."""
    Path("fast.csv").write_text(NUMBERS, newline="")
    Path("slow.csv").write_text(NUMBERS.replace("40", '"40"'), newline="")
    Path("named.csv").write_text(NUMBERS.replace("a;b", '"a";" b "'), newline="")
    fast = read_csv(Path("fast.csv"))
    assert fast.lines.tolist() == [2, 4]
    assert fast.columns["a"].tolist() == [1.5, -0.03]
    same_table(read_csv(Path("slow.csv")), fast)
    same_table(read_csv(Path("named.csv")), fast)  # a quoted header, plain numbers below


def test_one_column_falls_back_to_comma(in_tmp: Path) -> None:
    Path("y.csv").write_text("y\n1\n2.5\n")
    table = read_csv(Path("y.csv"))
    assert (table.header, table.columns["y"].tolist()) == (["y"], [1.0, 2.5])


def test_blank_inner_lines_keep_their_line_numbers(in_tmp: Path) -> None:
    Path("t.csv").write_text("x,name\n1,a\n\n2,b\n\n\n3,c\n")
    table = read_csv(Path("t.csv"))
    assert table.lines.tolist() == [2, 4, 7]
    assert table.columns["name"].tolist() == ["a", "b", "c"]


# ---------------------------------------------------------------- missing cells


def test_missing_cells(in_tmp: Path) -> None:
    assert frozenset({"", "na", "nan", "null"}) == MISSING
    Path("t.csv").write_text(
        "x,colour,y\n1,red,NA\n,blue, nan \nnull,,2\n4,NULL,NaN\n5,green,\n", newline=""
    )
    table = read_csv(Path("t.csv"))
    x, colour, y = (table.columns[n] for n in ("x", "colour", "y"))
    assert x.dtype == y.dtype == np.float64 and colour.dtype == object
    assert np.isnan(x).tolist() == [False, True, True, False, False]
    assert x[[0, 3, 4]].tolist() == [1.0, 4.0, 5.0]
    assert np.isnan(y).tolist() == [True, True, False, True, True] and y[2] == 2.0
    assert colour.tolist() == ["red", "blue", "", "", "green"]
    assert table.missing["x"].tolist() == [False, True, True, False, False]
    assert table.missing["colour"].tolist() == [False, False, True, True, False]
    assert table.missing["y"].tolist() == [True, True, False, True, True]


def test_a_column_of_words_and_numbers_is_text(in_tmp: Path) -> None:
    Path("t.csv").write_text("size\n1\n two \n3\n")
    assert read_csv(Path("t.csv")).columns["size"].tolist() == ["1", "two", "3"]


# ---------------------------------------------------------------- bad files, one line each

HEADER = "size_m2,bedrooms,distance_km,income_k,price_k\n"
ROW = "100,2,5,60,400\n"

BAD = [
    ("", "empty; expected a header row of column names, then rows of numbers"),
    (HEADER, "holds a header but zero rows; at least 1 is needed"),
    (HEADER + "\n\n", "holds a header but zero rows; at least 1 is needed"),
    (HEADER + ROW + "\n120,3,4.5,500\n", "line 4 has 4 values, the header names 5 columns"),
    (HEADER + ROW + "1,2,3,4,5,6\n", "line 3 has 6 values, the header names 5 columns"),
    (HEADER.replace("\n", "\r\n") + "1,2\r\n", "line 2 has 2 values, the header names 5 columns"),
    (HEADER + ROW + "120,3,inf,70,500\n", "line 3, column 'distance_km' is not finite; all values must be"),
    (HEADER + ROW + "120,3,4,1e999,500\n", "line 3, column 'income_k' is not finite; all values must be"),
    ("size,size,price_k\n1,2,3\n", "the header names column 'size' twice; names must differ"),
    (" a ,b,a\n1,2,3\n", "the header names column 'a' twice; names must differ"),
]  # fmt: skip
BAD_IDS = [
    "empty", "no-rows", "blank-rows", "short", "long", "crlf-ragged",
    "inf", "overflow", "twice", "twice-stripped",
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), BAD, ids=BAD_IDS)
def test_bad_files(in_tmp: Path, text: str, message: str) -> None:
    Path("bad.csv").write_bytes(text.encode())
    with pytest.raises(DataError) as caught:
        read_csv(Path("bad.csv"), "data.test")
    assert str(caught.value) == f"data.test: bad.csv: {message}"


def table_config(train: str) -> Path:
    """A tiny regression config on a CSV table: 4 features -> 3 relu -> 1 linear."""
    config = {
        "data": {"train": train, "target": "price_k", "test_fraction": 0.25},
        "model": {"layers": [4, 3, 1], "hidden_activation": "relu", "output_activation": "linear"},
        "init": {"scale": "he", "seed": 1},
        "train": {"learning_rate": 0.05, "iterations": 20, "log_every": 10},
    }
    Path("c.yaml").write_text(yaml.safe_dump(config))
    return Path("c.yaml")


@pytest.mark.parametrize(("text", "message"), BAD[1:5] + BAD[6:9], ids=BAD_IDS[1:5] + BAD_IDS[6:9])
def test_bad_files_through_train(in_tmp: Path, text: str, message: str) -> None:
    Path("bad.csv").write_text(text)
    code, out, err = dlcli("train", str(table_config("bad.csv")))
    assert (code, out, err) == (1, "", f"dlcli: data error: data.train: bad.csv: {message}\n")
    assert not Path("runs").exists()


def test_larger_than_memory_is_refused_before_reading(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Path("big.csv").write_text(HEADER + ROW * 100)  # 46 + 1500 bytes
    assert Path("big.csv").stat().st_size == 1546
    monkeypatch.setattr(sysinfo, "available_memory", lambda: 1024)  # the machine's answer

    def no_reading(self: Path) -> bytes:
        raise AssertionError(f"{self} was read")

    monkeypatch.setattr(Path, "read_bytes", no_reading)
    message = (
        "data.train: big.csv: a CSV of 1.5 KiB, more than the 1.0 KiB free; a CSV is read whole "
        "into memory: split it into smaller files, or free memory"
    )
    with pytest.raises(DataError) as caught:
        read_csv(Path("big.csv"))
    assert str(caught.value) == message
    code, out, err = dlcli("train", str(table_config("big.csv")))
    assert (code, out, err) == (1, "", f"dlcli: data error: {message}\n")
    monkeypatch.setattr(sysinfo, "available_memory", lambda: 40 * 2**30 + 2**29)
    Path("big.csv").unlink()
    with open("big.csv", "wb") as f:  # sparse: 50 GiB of nothing, on no disk
        f.truncate(50 * 2**30)
    with pytest.raises(DataError, match=r"a CSV of 50\.0 GiB, more than the 40\.5 GiB free;"):
        read_csv(Path("big.csv"))


# ---------------------------------------------------------------- training on the forms


def test_train_on_a_semicolon_crlf_bom_file_is_training_on_the_comma_file(in_tmp: Path) -> None:
    rng = np.random.default_rng(5)
    values = rng.normal(size=(40, 5)).round(4)  # (m, 5): four features and the price
    rows = [",".join(repr(float(v)) for v in row) for row in values]
    Path("plain.csv").write_text(HEADER + "\n".join(rows) + "\n")
    odd = [row.replace(",", ";") for row in [HEADER.strip(), *rows]]
    odd[7] = '"' + odd[7].replace(";", '";"') + '"'  # one row quoted: the csv module path
    Path("odd.csv").write_bytes(b"\xef\xbb\xbf" + "\r\n".join(odd).encode() + b"\r\n\r\n")
    for name in ("plain", "odd"):
        code, _, err = dlcli("train", str(table_config(f"{name}.csv")), "--quiet", "--out", name)
        assert code == 0, err
    assert Path("odd/costs.csv").read_bytes() == Path("plain/costs.csv").read_bytes()
    table = read_csv_table(Path("odd.csv"))
    assert np.stack([table[n] for n in HEADER.strip().split(",")], 1).tobytes() == values.tobytes()


def test_rows_keep_their_text_for_predict(in_tmp: Path) -> None:
    Path("t.csv").write_bytes(b'\xef\xbb\xbfa;b\r\n" 1.50";x\r\n\r\n2;"y;z"\r\n')
    assert read_csv_rows(Path("t.csv"), "--csv") == (
        ["a", "b"],
        [(2, [" 1.50", "x"]), (4, ["2", "y;z"])],
    )


# ---------------------------------------------------------------- the pyarrow path


def test_pyarrow_path_is_float_to_the_last_bit(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random numbers of 1 to 19 digits and exponents written out, read back bit for bit (by
    pyarrow: the csv path is switched off)."""
    monkeypatch.setattr("dlcli.data.csvread.parse_rows", None)
    rng = np.random.default_rng(13)
    x = rng.normal(size=3000) * 10.0 ** rng.integers(-30, 30, size=3000)
    digits = rng.integers(1, 20, size=3000)
    cells = [repr(float(v)) for v in x] + [f"{v:.{d - 1}e}" for v, d in zip(x, digits, strict=True)]
    cells += [f"{v:.{d}f}" for v, d in zip(x[:500] * 1e-3, digits[:500], strict=True)] + [
        f"{v:.3E}" for v in x
    ]
    cells += ["0", "-0", "+1", "1.", ".5", "-.5e-3", "1E+05", "00012", "1e0000003",
              "9007199254740993", "123456789012345678901234", "4.9e-324", "1e-400", "1e22",
              "1e23", "2.2250738585072014e-308", "0.000000000000000000000000001"]  # fmt: skip
    cells += ["0"] * (-len(cells) % 4)
    rows = [",".join(cells[i : i + 4]) for i in range(0, len(cells), 4)]
    Path("t.csv").write_text("a,b,c,d\n" + "\n".join(rows) + "\n")
    table = read_csv(Path("t.csv"))
    values = np.stack([table.columns[name] for name in "abcd"], axis=1).ravel()
    assert values.tobytes() == np.array([float(c) for c in cells]).tobytes()
    assert table.lines.tolist() == list(range(2, len(rows) + 2))
    assert not any(mask.any() for mask in table.missing.values())


@pytest.mark.parametrize(
    "cell",
    ["1e", "1.2.3", "+-1", "e5", ".", "-", "1e+", "1-2", "1e5-", "1e5.3", "1ee2", ".e1", "x",
     "nan(1)", "1_000", " 2 ", "\t3", "+nan", " NaN ", "Infinity", "é", ""],
)  # fmt: skip
def test_odd_cells_read_as_the_csv_path_reads_them(in_tmp: Path, cell: str) -> None:
    """pyarrow's reading of a cell is kept only where it is the csv module's (the same file
    with one quoted cell goes that way): a word makes the column text, "1_000" and spaces
    are numbers as float() reads them, "nan(1)" is text, "+nan" a NaN that is not missing."""
    text = f"a,b\n1,2\n3,{cell}\n4,5\n"
    Path("arrow.csv").write_text(text)
    Path("slow.csv").write_text(text.replace("4,5", '4,"5"'))
    same_table(read_csv_any(Path("arrow.csv")), read_csv_any(Path("slow.csv")))


@pytest.mark.parametrize(
    "text",
    ["a,b\n1,2\n,\n3,4\n", "a,b\n1,2\n3\n", "a,b\n1,2\r3,4\n", "a,b\n1,\xff\n",
     "a,b\n\n1,2\n", "a,b\n1,2\n\r\n3,4\r\n\r\n", "a\n1\n  \n2\n", "a,b\n1,2\n , \n",
     "a,b\nx,2\n\n3,4\n", "a,b\n1,2\nNA,na\n", "a,b\nx,2\n,\n"],
    ids=["blank-row", "ragged", "lone-cr", "not-utf8", "blank-first", "blank-crlf", "spaces",
         "spaces-row", "blank-in-text", "missing-row", "blank-row-in-text"],
)  # fmt: skip
def test_what_pyarrow_leaves_to_the_csv_module(in_tmp: Path, text: str) -> None:
    """Blank rows (skipped, counted), ragged rows, a lone \\r, bytes that are not UTF-8: the
    csv path reads them or words the mistake, the same with or without pyarrow."""
    Path("t.csv").write_bytes(text.encode("latin-1"))
    raw = Path("t.csv").read_bytes()
    try:
        expected = parse_rows(raw, ",", Path("t.csv"), "data.train")
    except DataError as exc:
        with pytest.raises(DataError) as got:
            read_csv_any(Path("t.csv"))
        assert str(got.value) == str(exc)
    else:
        table = read_csv_any(Path("t.csv"))
        assert table.lines.tolist() == [line for line, _ in expected[1]]


@pytest.mark.parametrize(
    ("text", "lines", "b"),
    [
        ("a,b\n1,2\n" + "\n" * 70_000, [2], [2.0]),  # more blank tail than is read to find the end
        ('a,b\n1,"x\ny"\n3,4\n', [2, 4], ["x\ny", "4"]),  # a quoted line end: a row on 2 lines
        ('a,b\n1,"2,5"\n3,4\n', [2, 3], ["2,5", "4"]),  # a quoted delimiter
        ('a,b\n1,2\n3,"4"\n', [2, 3], [2.0, 4.0]),  # a quoted number, in the last row
    ],
    ids=["long-blank-tail", "quoted-line-end", "quoted-delimiter", "quoted-number"],
)
def test_files_pyarrow_passes_on(in_tmp: Path, text: str, lines: list[int], b: list) -> None:
    """pyarrow reads with quotes off and the rows' end found in the file's last bytes: a cell
    holding a quote, or a blank tail longer than what is read, sends the file to the csv
    path, which reads it right."""
    Path("t.csv").write_text(text)
    table = read_csv_any(Path("t.csv"))
    assert table.lines.tolist() == lines
    assert table.columns["b"].tolist() == b


MIXED = "x,colour,y\r\n1,red,NA\r\n,blue, nan \r\n\r\nnull,,2\r\n4,NULL,NaN\r\n5,green,1e\r\n"


def test_text_and_missing_cells_by_both_paths(in_tmp: Path) -> None:
    """Without quotes, words and missing cells are read by pyarrow and the column's texts;
    with a quote, by the csv module: the same table."""
    Path("fast.csv").write_text(MIXED, newline="")
    Path("slow.csv").write_text(MIXED.replace("green", '"green"'), newline="")
    fast = read_csv(Path("fast.csv"))
    same_table(read_csv(Path("slow.csv")), fast)
    assert fast.lines.tolist() == [2, 3, 5, 6, 7]
    assert fast.columns["colour"].tolist() == ["red", "blue", "", "", "green"]
    assert fast.columns["y"].tolist() == ["", "", "2", "", "1e"]
    assert fast.missing["y"].tolist() == [True, True, False, True, False]


def test_text_and_missing_cells_by_pyarrow(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same cells without the blank line are read by pyarrow alone (the csv path switched
    off): the table the csv module reads from the quoted file, line for line."""
    plain = MIXED.replace("\r\n\r\n", "\r\n")
    Path("slow.csv").write_text(plain.replace("green", '"green"'), newline="")
    slow = read_csv(Path("slow.csv"))
    Path("fast.csv").write_text(plain, newline="")
    monkeypatch.setattr("dlcli.data.csvread.parse_rows", None)
    fast = read_csv(Path("fast.csv"))
    same_table(fast, slow)
    assert fast.lines.tolist() == [2, 3, 4, 5, 6]
