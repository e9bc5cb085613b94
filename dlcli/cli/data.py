"""dlcli data: make and inspect data sets in the course's HDF5 layout (and generated CSV tables)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from dlcli.cli.options import FitOpt, user_errors
from dlcli.errors import DlcliError

ForceOpt = Annotated[bool, typer.Option("--force", help="Replace output files that exist.")]
OutH5 = Annotated[
    Path, typer.Option(help="The HDF5 file to write.", metavar="FILE.h5", show_default=False)
]
SeedOpt = Annotated[int, typer.Option(help="The legacy RandomState seed, as data.generate.seed.")]


def images(
    directory: Annotated[
        Path,
        typer.Argument(
            help="A folder with one subfolder of pictures per class, e.g. cat/ and non-cat/.",
            metavar="DIR",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            help="NAME.h5: writes train_NAME.h5 and test_NAME.h5 beside it, as the course's files.",
            metavar="FILE.h5",
            show_default=False,
        ),
    ],
    size: Annotated[int, typer.Option(help="Pictures become size x size x 3 pixels.")] = 64,
    test_fraction: Annotated[
        float,
        typer.Option(help="Share of each class put in the test file; 0 writes no test file."),
    ] = 0.2,
    seed: Annotated[int, typer.Option(help="Seeds the train/test split and the shuffle.")] = 1,
    classes: Annotated[
        str | None,
        typer.Option(
            help="NEG,POS: the subfolders for labels 0 and 1. Default: the two subfolders, a "
            "non-X beside X as label 0 (as the course's non-cat, cat), else alphabetical.",
            metavar="NEG,POS",
            show_default=False,
        ),
    ] = None,
    fit: FitOpt = "stretch",
    force: ForceOpt = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print only JSON on stdout: files, counts, skipped.")
    ] = False,
) -> None:
    """Turn a folder of your own pictures into course-layout train and test HDF5 files.

    dlcli train then learns from them with no code. Every picture under each class subfolder (recursively) is read as predict reads it and
    resized to --size; each class is split into train and test by --test-fraction (stratified,
    seeded). A picture that cannot be read is skipped and listed on stderr.
    """
    with user_errors():
        from dlcli.cli.progress import Counter
        from dlcli.data.folders import build_from_folders, write_folder_dataset
        from dlcli.data.write import check_writable, output_paths

        train_path, test_path = output_paths(out, test_fraction > 0)
        check_writable([p for p in (train_path, test_path) if p is not None], force)
        with Counter("reading pictures") as counter:
            built = build_from_folders(
                directory,
                size=size,
                test_fraction=test_fraction,
                seed=seed,
                fit=fit,
                classes=None if classes is None else [c.strip() for c in classes.split(",")],
                progress=counter,
            )
        attrs = {"source": str(directory), "size": size, "fit": fit, "seed": seed}
        attrs["test_fraction"] = test_fraction
        written = write_folder_dataset(built, out, attrs)
    for path, reason in built.skipped:
        typer.secho(f"dlcli: skipped {path}: {reason}", err=True, fg="yellow")
    splits = [("train", built.train), ("test", built.test)]
    report = {
        "files": [str(p) for p in written],
        "classes": list(built.classes),
        "counts": {
            name: [int((split.y == 0).sum()), int((split.y == 1).sum())]
            for name, split in splits
            if split is not None
        },
        "example_shape": [size, size, 3],
        "skipped": [{"path": p, "error": r} for p, r in built.skipped],
    }
    if json_out:
        typer.echo(json.dumps(report))
        return
    from dlcli.cli.render import images_report, show

    show(*images_report(report, directory))


def info(
    file: Annotated[
        Path,
        typer.Argument(help="A course-layout HDF5 file.", metavar="FILE.h5", show_default=False),
    ],
    grid: Annotated[
        Path | None,
        typer.Option(
            help="Write a PNG grid of the first --count pictures with their labels (a scatter "
            "plot for two features).",
            metavar="FILE.png",
            show_default=False,
        ),
    ] = None,
    count: Annotated[int, typer.Option(help="Pictures in the --grid.")] = 25,
    json_out: Annotated[bool, typer.Option("--json", help="Print only JSON on stdout.")] = False,
) -> None:
    """Show a data set: shapes, dtypes, classes and their balance; --grid draws thumbnails."""
    with user_errors():
        from dlcli.data.describe import describe, write_thumbnails

        if count < 1:
            raise DlcliError(f"--count: must be at least 1, found {count}")
        report = describe(file)
        if grid is not None:
            report["grid"] = str(grid)
            report["grid_examples"] = write_thumbnails(file, grid, count)
    if json_out:
        typer.echo(json.dumps(report))
        return
    from dlcli.cli.render import info_report, show

    show(*info_report(report, file, grid))


def flower(
    out: OutH5,
    examples: Annotated[int, typer.Option(help="Examples, half per class (even).")] = 400,
    seed: SeedOpt = 1,
    force: ForceOpt = False,
) -> None:
    """Write the course's planar flower set (what data.generate makes) as an HDF5 file.

    The file holds train_set_x float64 (m, 2) features, train_set_y int64 (m,) labels and
    list_classes (red, blue); data.train reads it back.
    """
    with user_errors():
        from dlcli.data.write import check_writable, write_flower

        check_writable([out], force)
        write_flower(out, examples, seed)
    typer.echo(
        f"wrote {out}: {examples} examples of 2 float64 features, classes red (0) and blue (1), "
        f"{examples // 2} each\n"
        f"Train on it: dlcli train configs/flower.yaml --set data.generate=null --set data.train={out}"
    )


def spiral(
    out: OutH5,
    examples: Annotated[
        int, typer.Option(help="Examples, the same number per arm (a multiple of --classes).")
    ] = 300,
    classes: Annotated[int, typer.Option(help="Arms, one class each (2 to 100).")] = 3,
    seed: SeedOpt = 1,
    force: ForceOpt = False,
) -> None:
    """Write the K-arm spiral (what data.generate spiral makes) as an HDF5 file.

    The file holds train_set_x float64 (m, 2) features, train_set_y int64 (m,) labels 0..K-1
    and list_classes ("arm 0" .. "arm K-1"); data.train reads it back, and dlcli evaluate
    --model RUN FILE.h5 measures a spiral model on it.
    """
    with user_errors():
        from dlcli.data.write import check_writable, write_spiral

        check_writable([out], force)
        write_spiral(out, examples, classes, seed)
    layers = f" --set model.layers=[2,100,{classes}]" if classes != 3 else ""
    typer.echo(
        f"wrote {out}: {examples} examples of 2 float64 features, classes arm 0 (0) to "
        f"arm {classes - 1} ({classes - 1}), {examples // classes} each\n"
        f"Train on it: dlcli train configs/spiral.yaml --set data.generate=null "
        f"--set data.train={out}{layers}"
    )


OutCsv = Annotated[
    Path, typer.Option(help="The CSV file to write.", metavar="FILE.csv", show_default=False)
]


def housing(
    out: OutCsv,
    examples: Annotated[int, typer.Option(help="Rows (houses).")] = 1000,
    seed: Annotated[
        int, typer.Option(help="Seeds np.random.default_rng, as data.generate.seed.")
    ] = 1,
    force: ForceOpt = False,
) -> None:
    """Write the generated housing table (what data.generate housing makes) as a CSV file.

    Columns size_m2, bedrooms, distance_km, income_k and price_k (the formula is in
    docs/config.md); every number is written so it reads back bit for bit. Train on it with
    data.train: FILE.csv and data.target: price_k.
    """
    with user_errors():
        from dlcli.cli.render import count
        from dlcli.data.generated import HOUSING_COLUMNS
        from dlcli.data.write import check_writable, write_housing_csv

        check_writable([out], force, suffix=".csv")
        write_housing_csv(out, examples, seed)
    typer.echo(
        f"wrote {out}: {count(examples, 'row')}, columns {', '.join(HOUSING_COLUMNS)}\n"
        f"Train on it: dlcli train configs/housing.yaml --set data.generate=null "
        f"--set data.train={out} --set data.target=price_k"
    )


def churn(
    out: OutCsv,
    examples: Annotated[int, typer.Option(help="Rows (customers).")] = 2000,
    seed: Annotated[int, typer.Option(help="Seeds np.random.default_rng.")] = 1,
    force: ForceOpt = False,
) -> None:
    """Write a generated customer churn table, a classification set with words, as a CSV file.

    Columns tenure_months, monthly_fee, support_calls (numbers), contract (monthly, yearly,
    two-year: it shifts the chance of leaving), region (north, east, south, west: it does not)
    and the label status (stays or leaves). About 2% of monthly_fee cells are empty and 3% of
    region cells are NA. The formula is in docs/data.md.
    """
    with user_errors():
        from dlcli.cli.render import count
        from dlcli.data.generated import CHURN_COLUMNS
        from dlcli.data.write import check_writable, write_churn_csv

        check_writable([out], force, suffix=".csv")
        counts = write_churn_csv(out, examples, seed)
    status = ", ".join(f"{word} {n}" for word, n in counts["status"].items())
    fee, region = counts["missing"]["monthly_fee"], counts["missing"]["region"]
    typer.echo(
        f"wrote {out}: {count(examples, 'row')}, columns {', '.join(CHURN_COLUMNS)}\n"
        f"status: {status}; missing cells: monthly_fee {fee} (empty), region {region} (NA)\n"
        f"Train on it: dlcli train configs/churn.yaml --set data.generate=null "
        f"--set data.train={out}"
    )


def synth(
    out: OutH5,
    examples: Annotated[
        int, typer.Option(help="Pictures to write (any number: the file may exceed memory).")
    ] = 10_000,
    size: Annotated[int, typer.Option(help="Pictures are size x size x 3 uint8 pixels.")] = 64,
    seed: Annotated[int, typer.Option(help="Seeds np.random.default_rng.")] = 1,
    chunk: Annotated[int, typer.Option(help="Pictures generated and written at a time.")] = 1024,
    force: ForceOpt = False,
) -> None:
    """Write a synthetic course-layout file of any size, in chunks (for data.stream tests).

    train_set_x uint8 (m, size, size, 3), train_set_y, list_classes (dark, bright): a dark
    picture's pixels are uniform in 0..127, a bright one's in 64..191. At most --chunk
    pictures are in memory at a time.
    """
    with user_errors():
        from dlcli.cli.progress import Counter
        from dlcli.data.write import check_writable, write_synth

        check_writable([out], force)
        with Counter("writing pictures") as counter:
            write_synth(out, examples, size=size, seed=seed, chunk=chunk, progress=counter)
    gib = examples * size * size * 3 / 2**30
    typer.echo(
        f"wrote {out}: {examples} pictures {size}x{size}x3 uint8 ({gib:.2f} GiB), classes dark (0) "
        f"and bright (1)\n"
        f"Train on it from disk: dlcli train configs/cat_2layer.yaml --set data.train={out} "
        f"--set data.test=null --set data.stream=true --set train.batch_size=1024"
        + (f" --set model.layers=[{size * size * 3},7,1]" if size != 64 else "")
    )
