"""The errors a user can cause. Each message names the key or file, what was found and
what is allowed; the CLI prints it on one line and exits 1. Anything else is a bug."""


class DlcliError(Exception):
    """Base class of every error a user can cause."""

    kind = "error"


class ConfigError(DlcliError):
    kind = "config error"


class DataError(DlcliError):
    kind = "data error"


class ModelFileError(DlcliError):
    kind = "model file error"


class DivergedError(DlcliError):
    kind = "diverged"

    #: The last parameters whose cost was finite (a ``dlcli.training.state.TrainResult``), if any.
    last_finite = None


class ImageError(DataError):
    """A picture that cannot be read: missing, not a picture, damaged, or too large."""

    kind = "image error"
