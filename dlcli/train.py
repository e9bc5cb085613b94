"""TEMPORARY SHIM (issue 12): removed by the lead at merge.

The old ``dlcli.train`` path, re-exporting what moved to :mod:`dlcli.training` and
:mod:`dlcli.job` (and ``initial_params`` to :mod:`dlcli.runs`).
"""

# TEMPORARY SHIM (issue 12): removed by the lead at merge
from dlcli.job import config_changes, run  # noqa: F401
from dlcli.model.sizes import memory_estimate  # noqa: F401
from dlcli.runs import initial_params  # noqa: F401
from dlcli.training.engines import ENGINES  # noqa: F401
from dlcli.training.loop import train  # noqa: F401
from dlcli.training.measure import accuracy  # noqa: F401
from dlcli.training.plan import (  # noqa: F401
    Options,
    choose_engine,
    init_note,
    iterations_of,
    options_from,
    resolve_engine,
)
from dlcli.training.state import Callback, StopTraining, TrainResult, TrainState  # noqa: F401
