"""Error types. A `GankitError` is a user-facing failure: the CLI prints its one-line message and exits
with its `exit_code` (2 for user mistakes), never a traceback. Anything else is a bug (exit 1)."""


class GankitError(Exception):
    """Base for errors whose message is meant for the user as is: one line (line breaks in a message, often from a
    library's error quoted inside it, become spaces)."""

    exit_code = 2

    def __init__(self, message: object = "", *args):
        super().__init__(" ".join(str(message).split()) if isinstance(message, str) else message, *args)


class ConfigError(GankitError):
    """A bad preset, YAML file, key or value."""


class DataError(GankitError):
    """A dataset file is missing, malformed or inconsistent."""


class RunDirError(GankitError):
    """A run directory is missing, not a run, or holds an incompatible checkpoint."""


class UnknownNameError(ConfigError):
    """A name that is not in a registry."""


class TrainingDiverged(GankitError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""

    exit_code = 1
