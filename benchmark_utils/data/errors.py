"""The data errors: each a :class:`~benchmark_utils.errors.UserError` (shown
as its message alone) that keeps the built-in base callers catch."""

from pathlib import Path

from ..errors import UserError


class DataError(UserError, ValueError):
    """A dataset setting or a shard folder that cannot give a run its data."""


class ShardError(DataError):
    """A shard file that is missing, not a regular file, truncated or not a
    shard; ``advice`` says what to do about this ``problem``."""

    def __init__(self, path, problem, advice):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}. {advice}")


class ManifestError(DataError):
    """A tokenizer manifest (``*_tokenize.json``) that cannot be trusted."""


class IncompleteCorpusError(DataError):
    """The tokenizer's manifest says it has not finished this folder."""


class DataExhaustedError(DataError):
    """The shards hold fewer tokens (or steps) than the run asks for."""


class MissingDataError(UserError, RuntimeError):
    """Data that is not on disk and cannot be downloaded now: ``files``, and
    the ``reason``."""

    def __init__(self, message, files=(), reason=None):
        super().__init__(message)
        self.files = list(files)
        self.reason = reason


class MissingFolderError(MissingDataError, FileNotFoundError):
    """The shard folder of a local dataset does not exist."""


class DataWarning(UserWarning):
    """Data that can be used but looks wrong (a gap in the shard numbering,
    two corpora in one folder)."""
