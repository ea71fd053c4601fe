"""Pre-tokenized shards from the Hugging Face hub, fetched on demand, and
the benchopt dataset class of the hub datasets (fineweb, fineweb_edu).

Only the validation shard and the training shards that a run's token budget
needs are downloaded; files already present are used without network.
``hf_hub_download`` does the transfer: it writes to a temporary file and
renames it when complete, resumes and retries a broken connection, so an
interrupted run keeps the complete files and fetches only the others when
run again. This module adds what the hub cannot know: every file is checked
as a shard (header and size) and an invalid local copy is downloaded again.
Offline (``HF_HUB_OFFLINE=1`` or no network) the error lists the missing
files and the command that fetches them::

    python -m benchmark_tools.download fineweb --train-tokens N

Waits are bounded: before the first download, one metadata request without
retries (``ETAG_TIMEOUT`` s) tells whether the hub answers, so an offline
machine or a dead endpoint fails in seconds with one message instead of
minutes of huggingface_hub's retries (whose warnings are silenced: the
message says what failed and how long it waited); a transfer that receives
nothing for ``DOWNLOAD_TIMEOUT`` s is abandoned.
"""

import contextlib
import importlib
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import huggingface_hub
import huggingface_hub.constants
from benchopt import BaseDataset

from .errors import DataExhaustedError, MissingDataError, ShardError
from .paths import data_dir
from .shards import HEADER_BYTES, read_header
from .sources import OFFLINE_DEMO, ShardSource
from .track3 import track3_tokens_needed

TOKENS_PER_SHARD = 100_000_000
# The objective's default data budget: max_steps = 7,600 steps of 524,288
# tokens in Track 3's order, i.e. 40 whole shards (4B tokens, as Track 3's
# quickstart downloads).
DEFAULT_STEPS = 7600
DEFAULT_TRAIN_TOKENS = track3_tokens_needed(DEFAULT_STEPS, 524_288, TOKENS_PER_SHARD)
ETAG_TIMEOUT = 10.0  # seconds for one metadata request (HF_HUB_ETAG_TIMEOUT)
DOWNLOAD_TIMEOUT = 30.0  # seconds without data in a transfer (HF_HUB_DOWNLOAD_TIMEOUT)
MAX_LISTED = 12  # files named in a message; the download command fetches all


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


def shard_filename(prefix, split, index):
    return f"{prefix}_{split}_{index:06d}.bin"


def offline():
    """True when ``HF_HUB_OFFLINE`` forbids network access."""
    value = os.environ.get("HF_HUB_OFFLINE", "0").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def _seconds(variable, default):
    """A timeout: the environment variable when set to a positive number (as
    huggingface_hub reads it), else ``default``."""
    try:
        value = float(os.environ.get(variable, ""))
        return value if value > 0 else default
    except ValueError:
        return default


def etag_timeout():
    return _seconds("HF_HUB_ETAG_TIMEOUT", ETAG_TIMEOUT)


def download_timeout():
    return _seconds("HF_HUB_DOWNLOAD_TIMEOUT", DOWNLOAD_TIMEOUT)


@contextlib.contextmanager
def bounded_hub():
    """While talking to the hub: huggingface_hub's retry warnings silenced
    (our message says what failed, once) and its waits bounded: the transfer
    timeout, and the timeout of the metadata retries it makes after a failed
    request (60 s each by default, about 400 s per file on a dead endpoint)."""
    logger = logging.getLogger("huggingface_hub")
    constants = huggingface_hub.constants
    try:
        module = importlib.import_module("huggingface_hub.file_download")
    except ImportError:
        module = None
    saved = (
        logger.level,
        constants.HF_HUB_DOWNLOAD_TIMEOUT,
        getattr(module, "_ETAG_RETRY_TIMEOUT", None),
    )
    logger.setLevel(logging.ERROR)
    constants.HF_HUB_DOWNLOAD_TIMEOUT = download_timeout()
    if saved[2] is not None:  # a private setting of huggingface_hub 1.x-2.x
        module._ETAG_RETRY_TIMEOUT = etag_timeout()
    try:
        yield
    finally:
        logger.setLevel(saved[0])
        constants.HF_HUB_DOWNLOAD_TIMEOUT = saved[1]
        if saved[2] is not None:
            module._ETAG_RETRY_TIMEOUT = saved[2]


def describe_failure(error, waited, limit):
    """One line: why the hub could not give a file, the bound on the wait
    (``limit``, e.g. "10 s (HF_HUB_ETAG_TIMEOUT)") and how long it took."""
    text = (str(error).strip().splitlines() or [""])[0][:200]
    kind = type(error).__name__
    if getattr(error, "response", None) is not None:  # the hub answered
        return f"the hub answered with an error: {kind}: {text}"
    if isinstance(error, TimeoutError) or "timeout" in kind.lower():
        what = "no answer from the hub"
    else:
        what = "cannot reach the hub"
    return (
        f"{what} ({kind}: {text}); gave up after {waited:.1f} s, waiting at "
        f"most {limit} without retries"
    )


def download_command(name, n_tokens, local_dir=None):
    command = f"python -m benchmark_tools.download {name} --train-tokens {n_tokens}"
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
        self.shard_tokens = TOKENS_PER_SHARD  # nominal: Track 3 counts whole shards
        self.log = log or (lambda message: print(message, file=sys.stderr))
        self._reachable = False  # set once a probe of the hub succeeded

    def val_name(self):
        return shard_filename(self.prefix, "val", 0)

    def shards_for(self, n_tokens):
        """Training shard names a budget of ``n_tokens`` needs (full shards
        hold TOKENS_PER_SHARD tokens)."""
        n = max(1, -(-n_tokens // TOKENS_PER_SHARD))
        if n > self.n_train_shards:
            raise DataExhaustedError(
                f"{self.name}: a budget of {n_tokens:,} training tokens needs "
                f"{n} shards but {self.repo_id} has {self.n_train_shards} "
                f"(about {self.n_train_shards * TOKENS_PER_SHARD:,} tokens): "
                "lower max_steps or batch_tokens"
            )
        return [shard_filename(self.prefix, "train", i) for i in range(1, n + 1)]

    def files_for(self, n_tokens):
        """The validation shard and the training shards of a budget."""
        return [self.val_name(), *self.shards_for(n_tokens)]

    def require(self, n_tokens):
        """The validation shard and the training shards of a budget of
        ``n_tokens`` training tokens (the objective's data budget), checked:
        downloads the missing ones, or raises one :class:`MissingDataError`
        that lists every file this run needs and how to fetch them."""
        self.fetch_all(self.files_for(n_tokens), n_tokens)
        return [self.val_file(), *self.train_files(n_tokens)]

    def val_file(self):
        name, n = self.val_name(), self.default_train_tokens
        try:
            return self.checked(self.fetch(name, n_tokens=n))
        except MissingDataError as error:
            # Name everything the default budget needs, not only this file:
            # the training shards will be asked for next (``require`` names
            # the run's own budget instead).
            raise self._missing_error(
                self.missing(self.files_for(n)), n, error.reason, default_budget=True
            ) from None

    def train_files(self, n_tokens):
        paths = self.fetch_all(self.shards_for(n_tokens), n_tokens)
        # Shards may hold fewer tokens than TOKENS_PER_SHARD (the last one
        # does): fetch the next ones until the budget is covered.
        total = sum(read_header(p) for p in paths)
        while total < n_tokens and len(paths) < self.n_train_shards:
            name = shard_filename(self.prefix, "train", len(paths) + 1)
            paths.append(self.fetch(name, n_tokens=n_tokens))
            total += read_header(paths[-1])
        if total < n_tokens:
            raise DataExhaustedError(
                f"{self.name}: the {len(paths)} training shards of "
                f"{self.repo_id} hold {total:,} tokens but the run needs "
                f"{n_tokens:,}: lower max_steps or batch_tokens"
            )
        return [self.checked(p) for p in paths]

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
                ) from None
        return paths

    def missing(self, names):
        return [n for n in names if not is_valid_shard(self.local_dir / n)]

    def probe(self, filename):
        """One metadata request for ``filename``, bounded and without
        retries, before the first download: an unreachable hub fails here in
        seconds rather than after huggingface_hub's minutes of retries."""
        if self._reachable:
            return
        start = time.monotonic()
        try:
            with bounded_hub():
                url = huggingface_hub.hf_hub_url(
                    self.repo_id, filename, repo_type="dataset"
                )
                huggingface_hub.get_hf_file_metadata(url, timeout=etag_timeout())
        except Exception as error:
            reason = describe_failure(
                error,
                time.monotonic() - start,
                f"{etag_timeout():g} s (HF_HUB_ETAG_TIMEOUT)",
            )
            raise MissingDataError(reason, files=[filename], reason=reason) from None
        self._reachable = True

    def fetch(self, filename, n_tokens=None):
        """Path of a checked local copy of ``filename``, downloading it if
        it is missing or invalid (then with ``force_download``: the hub's
        own metadata may call a truncated copy up to date)."""
        path = self.local_dir / filename
        if is_valid_shard(path):
            return path
        n_tokens = self.default_train_tokens if n_tokens is None else n_tokens
        if offline():
            raise self._missing_error([filename], n_tokens, "HF_HUB_OFFLINE is set")
        self.probe(filename)
        self.log(f"{self.name}: downloading {filename} from {self.repo_id}")
        start = time.monotonic()
        try:
            with bounded_hub():
                downloaded = Path(
                    huggingface_hub.hf_hub_download(
                        repo_id=self.repo_id,
                        filename=filename,
                        repo_type="dataset",
                        local_dir=self.local_dir,
                        force_download=path.exists() or path.is_symlink(),
                        etag_timeout=etag_timeout(),
                    )
                )
        except Exception as error:  # network, auth, hub errors
            reason = describe_failure(
                error,
                time.monotonic() - start,
                f"{download_timeout():g} s per stalled read (HF_HUB_DOWNLOAD_TIMEOUT)",
            )
            raise self._missing_error([filename], n_tokens, reason) from None
        try:
            read_header(downloaded)
        except ShardError as error:
            downloaded.unlink()  # never leave it to pass for a shard later
            raise ShardError(
                downloaded,
                f"downloaded from {self.repo_id} but not a valid shard "
                f"({error.problem}); deleted",
                "Run again to download it again; if it fails the same way, "
                "the hub serves a bad file: report it to the dataset's owner.",
            ) from None
        return downloaded

    def _missing_error(self, names, n_tokens, reason=None, default_budget=False):
        """One screen: the missing files, why, the command that fetches them
        and what runs offline instead."""
        reason = reason or ("HF_HUB_OFFLINE is set" if offline() else "no network")
        listed = list(names[:MAX_LISTED])
        if len(names) > MAX_LISTED:
            listed.append(f"... and {len(names) - MAX_LISTED} more")
        size_gb = len(names) * (HEADER_BYTES + 2 * TOKENS_PER_SHARD) / 1e9
        budget = (
            f"the default budget of {n_tokens:,} training tokens (a shorter "
            "run needs fewer: --steps MAX_STEPS --batch-tokens BATCH_TOKENS)"
            if default_budget
            else f"a budget of {n_tokens:,} training tokens: the objective's "
            "max_steps in Track 3's order, whole shards; a lower max_steps "
            "(e.g. muon's N of 3,250: benchopt run . -d "
            f'{self.name} -s muon -o "nanoGPT validation loss[max_steps=3250]")'
            " needs fewer"
        )
        return MissingDataError(
            f"{self.name}: {len(names)} file(s) needed are not in "
            f"{self.local_dir} (about {size_gb:.1f} GB; the validation shard "
            f"and the training shards of {budget}):\n  "
            + "\n  ".join(listed)
            + f"\nThey cannot be downloaded from {self.repo_id} now: {reason}."
            "\nOn a machine with internet access, run from the benchmark "
            "folder:\n  "
            + download_command(self.name, n_tokens, self.local_dir)
            + f"\nthen copy the files into {self.local_dir}. Without them, "
            f"the CPU demo runs offline on generated data:\n  {OFFLINE_DEMO}",
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


class HubShardDataset(BaseDataset):
    """The benchopt dataset of a hub repository: subclasses set ``name`` (a
    key of :data:`HUB_DATASETS`) and a ``target`` parameter. ``get_data``
    is lazy (nothing is downloaded until the objective asks for files);
    ``benchopt prepare`` fetches the default budget."""

    prepare_cache_ignore = ("base_seed",)

    def _source(self):
        return hub_source(self.name, target=self.target)

    def prepare(self):
        self._source().require(DEFAULT_TRAIN_TOKENS)

    def get_data(self):
        return dict(source=self._source())
