"""Data: one module per source (course HDF5 files and streams, CSV tables, generated sets,
picture folders), each giving X (n_x, m) and Y (n_y, m) with the preprocessing it applied.

- :mod:`dlcli.data.course`: the course's HDF5 files, whole or streamed
- :mod:`dlcli.data.tables`: CSV tables and their standardization
- :mod:`dlcli.data.generated`: flower, spiral, housing and synthetic pictures
- :mod:`dlcli.data.load`: a config's data section, loaded and split (:class:`Dataset`)
- :mod:`dlcli.data.write`: course-layout files (and the housing CSV) written
- :mod:`dlcli.data.folders`: folders of pictures into the course layout
- :mod:`dlcli.data.describe`: what ``dlcli data info`` shows
"""

# TEMPORARY SHIM (issue 12): removed by the lead at merge. The names of the old dlcli/data.py
# and dlcli/datasets.py, for importers not yet rewritten to the modules above.
from dlcli.data.course import CourseFile, CourseStream, read_course_file, read_course_h5  # noqa: F401
from dlcli.data.describe import describe, write_thumbnails  # noqa: F401
from dlcli.data.folders import (  # noqa: F401
    FolderDataset,
    Split,
    build_from_folders,
    class_folders,
    write_folder_dataset,
)
from dlcli.data.generated import (  # noqa: F401
    FLOWER_CLASSES,
    HOUSING_COLUMNS,
    SYNTH_CLASSES,
    flower,
    housing,
    spiral,
)
from dlcli.data.load import Dataset, load, one_hot, split_off  # noqa: F401
from dlcli.data.tables import (  # noqa: F401
    apply_table,
    csv_numbers,
    read_csv_rows,
    read_csv_table,
    standardize,
    table_dataset,
    unscale_target,
)
from dlcli.data.write import (  # noqa: F401
    check_writable,
    output_paths,
    write_course_h5,
    write_flower,
    write_housing_csv,
    write_spiral,
    write_synth,
)
