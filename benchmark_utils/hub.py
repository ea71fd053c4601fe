"""Pre-tokenized shards from the Hugging Face hub, fetched on demand.

Only the validation shard and the training shards that a run's token budget
needs are downloaded; files already present are used without network.

Downloads are atomic and resumable at the file level: ``hf_hub_download``
writes to a temporary file and renames it when complete (and retries a broken
connection from where it stopped), every file is validated (header and size)
once downloaded, a file that fails the check is deleted and downloaded again,
and an interrupted run keeps the complete files and fetches only the others
when run again. Offline (``HF_HUB_OFFLINE=1`` or no network) the error lists
the missing files and the command that fetches them::

    python -m benchmark_utils.download fineweb --train-tokens N
"""

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import huggingface_hub

from .paths import data_dir
from .shards import ShardError, read_header
from .sources import ShardSource

TOKENS_PER_SHARD = 100_000_000
# The objective's default problem: 6000 steps x 524,288 tokens (+1 target).
DEFAULT_TRAIN_TOKENS = 6000 * 524_288 + 1


@dataclass(frozen=True)
class HubDataset:
    """A hub repository of shards named ``{prefix}_{split}_{index:06d}.bin``."""

    repo_id: str
    prefix: str
    n_train_shards: int
    target: float = None  # the dataset's standard target loss, if any


HUB_DATASETS = {
    "fineweb": HubDataset("kjj0/fineweb10B-gpt2", "fineweb", 103, target=3.28),
    "fineweb_edu": HubDataset("kjj0/finewebedu10B-gpt2", "finewebedu", 99),
}


class MissingDataError(RuntimeError):
    """Shards that are not on disk and cannot be downloaded now."""

    def __init__(self, message, files=(), reason=None):
        super().__init__(message)
        self.files = list(files)
        self.reason = reason


def shard_filename(prefix, split, index):
    return f"{prefix}_{split}_{index:06d}.bin"


def offline():
    """True when ``HF_HUB_OFFLINE`` forbids network access."""
    value = os.environ.get("HF_HUB_OFFLINE", "0").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def download_command(name, n_tokens, local_dir=None):
    command = f"python -m benchmark_utils.download {name} --train-tokens {n_tokens}"
    if local_dir is not None:
        command += f" --local-dir {local_dir}"
    return command


class HubShardSource(ShardSource):
    """Shards ``{prefix}_val_000000.bin`` and ``{prefix}_train_{i:06d}.bin``
    (i = 1..n_train_shards) of a hub dataset repository.

    ``default_train_tokens``: the budget named in the offline message when the
    validation shard is missing (the run's own budget is not known yet).
    """

    def __init__(
        self,
        repo_id,
        prefix,
        n_train_shards,
        local_dir,
        target=None,
        name=None,
        default_train_tokens=DEFAULT_TRAIN_TOKENS,
        log=None,
    ):
        self.repo_id = repo_id
        self.prefix = prefix
        self.n_train_shards = n_train_shards
        self.local_dir = Path(local_dir)
        self.target = target
        self.name = name or prefix
        self.default_train_tokens = default_train_tokens
        self.log = log or (lambda message: print(message, file=sys.stderr))

    def val_name(self):
        return shard_filename(self.prefix, "val", 0)

    def shards_for(self, n_tokens):
        """Training shard names a budget of ``n_tokens`` needs (full shards
        hold TOKENS_PER_SHARD tokens)."""
        n = max(1, -(-n_tokens // TOKENS_PER_SHARD))
        if n > self.n_train_shards:
            raise ValueError(
                f"{self.name}: a budget of {n_tokens:,} training tokens needs "
                f"{n} shards but {self.repo_id} has {self.n_train_shards} "
                f"(about {self.n_train_shards * TOKENS_PER_SHARD:,} tokens): "
                "lower max_steps or batch_tokens"
            )
        return [shard_filename(self.prefix, "train", i) for i in range(1, n + 1)]

    def files_for(self, n_tokens):
        """The validation shard and the training shards of a budget."""
        return [self.val_name(), *self.shards_for(n_tokens)]

    def val_file(self):
        name, n = self.val_name(), self.default_train_tokens
        try:
            if offline() and self.missing([name]):
                raise self._missing_error([name], n)
            return self.fetch(name, n_tokens=n)
        except MissingDataError as error:
            # Name everything the default budget needs, not only this file:
            # the training shards will be asked for next.
            raise self._missing_error(
                self.missing(self.files_for(n)), n, error.reason
            ) from error

    def train_files(self, n_tokens):
        names = self.shards_for(n_tokens)
        if offline() and self.missing(names):
            raise self._missing_error(self.missing(names), n_tokens)
        paths = self.fetch_all(names, n_tokens)
        # Shards may hold fewer tokens than TOKENS_PER_SHARD (the last one
        # does): fetch the next ones until the budget is covered.
        total = sum(read_header(p) for p in paths)
        while total < n_tokens and len(paths) < self.n_train_shards:
            name = shard_filename(self.prefix, "train", len(paths) + 1)
            paths.append(self.fetch(name, n_tokens=n_tokens))
            total += read_header(paths[-1])
        if total < n_tokens:
            raise ValueError(
                f"{self.name}: the {len(paths)} training shards of "
                f"{self.repo_id} hold {total:,} tokens but the run needs "
                f"{n_tokens:,}: lower max_steps or batch_tokens"
            )
        return paths

    def fetch_all(self, names, n_tokens):
        """Fetch ``names`` in order; if one cannot be downloaded, the error
        lists every file of ``names`` still missing."""
        paths = []
        for name in names:
            try:
                paths.append(self.fetch(name, n_tokens=n_tokens))
            except MissingDataError as error:
                raise self._missing_error(
                    self.missing(names), n_tokens, error.reason
                ) from error
        return paths

    def missing(self, names):
        return [n for n in names if not is_valid_shard(self.local_dir / n)]

    def fetch(self, filename, n_tokens=None):
        """Path of a validated local copy of ``filename``, downloading it if
        needed. A corrupt local copy is replaced; a download that fails the
        check is deleted and tried once more."""
        path = self.local_dir / filename
        if is_valid_shard(path):
            return path
        n_tokens = self.default_train_tokens if n_tokens is None else n_tokens
        if offline():
            raise self._missing_error([filename], n_tokens, "HF_HUB_OFFLINE is set")
        self.log(f"{self.name}: downloading {filename} from {self.repo_id}")
        for attempt in (1, 2):
            self._discard(path)  # a truncated or corrupt copy: start over
            try:
                downloaded = Path(
                    huggingface_hub.hf_hub_download(
                        repo_id=self.repo_id,
                        filename=filename,
                        repo_type="dataset",
                        local_dir=self.local_dir,
                        force_download=attempt > 1,
                    )
                )
            except Exception as error:  # network, auth, hub errors
                self._discard(path)
                raise self._missing_error(
                    [filename], n_tokens, f"{type(error).__name__}: {error}"
                ) from error
            except BaseException:  # interrupted (Ctrl-C): leave no half shard
                self._discard(path)
                raise
            try:
                read_header(downloaded)
                return downloaded
            except ShardError as error:
                self._discard(downloaded)
                if attempt == 2:
                    raise ShardError(
                        downloaded,
                        f"downloaded twice from {self.repo_id} and invalid "
                        f"both times ({error.problem})",
                    ) from error
                self.log(f"{self.name}: {error.problem}; downloading again")

    @staticmethod
    def _discard(path):
        """Delete ``path`` unless it is a valid shard."""
        if path.exists() and not is_valid_shard(path):
            path.unlink()

    def _missing_error(self, names, n_tokens, reason=None):
        reason = reason or ("HF_HUB_OFFLINE is set" if offline() else "no network")
        return MissingDataError(
            f"{self.name}: {len(names)} file(s) missing from {self.local_dir} "
            f"cannot be downloaded from {self.repo_id} ({reason}):\n  "
            + "\n  ".join(names)
            + "\nOn a machine with internet access, run\n  "
            + download_command(self.name, n_tokens, self.local_dir)
            + f"\nfrom the benchmark folder (or `benchopt prepare . -d {self.name}` "
            f"for the default budget of {DEFAULT_TRAIN_TOKENS:,} training "
            f"tokens), then copy the files into {self.local_dir}.",
            files=names,
            reason=reason,
        )


def is_valid_shard(path):
    try:
        read_header(path)
        return True
    except ShardError:
        return False


def hub_source(name, target=None, local_dir=None, **kwargs):
    """The :class:`HubShardSource` of a dataset of :data:`HUB_DATASETS`.

    ``target=None`` keeps the dataset's standard target (None if it has
    none); ``local_dir=None`` uses the benchmark's data folder for ``name``.
    """
    spec = HUB_DATASETS[name]
    return HubShardSource(
        repo_id=spec.repo_id,
        prefix=spec.prefix,
        n_train_shards=spec.n_train_shards,
        local_dir=data_dir(name) if local_dir is None else local_dir,
        target=spec.target if target is None else target,
        name=name,
        **kwargs,
    )
