"""TEMPORARY SHIM (issue 12): removed by the lead at merge. The old dlcli.datasets names, now
in dlcli.data.write, dlcli.data.folders, dlcli.data.describe and dlcli.data.generated."""

from dlcli.data.describe import describe, write_thumbnails  # noqa: F401
from dlcli.data.folders import (  # noqa: F401
    FolderDataset,
    Split,
    build_from_folders,
    class_folders,
    write_folder_dataset,
)
from dlcli.data.generated import SYNTH_CLASSES  # noqa: F401
from dlcli.data.write import (  # noqa: F401
    check_writable,
    output_paths,
    write_course_h5,
    write_flower,
    write_housing_csv,
    write_spiral,
    write_synth,
)
