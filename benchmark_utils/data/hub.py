"""Pre-tokenized shards from the Hugging Face hub, fetched on demand, and the
benchopt dataset class of the hub datasets (fineweb, fineweb_edu).

``hf_hub_download`` does the transfer (a temporary file renamed when complete,
resumed and retried). This module adds what the hub cannot know: which shards
a run's budget needs, that every file is a valid shard (an invalid copy is
downloaded again), and one message listing what is missing and the command
that fetches it when the hub cannot give it now. Waits are bounded: one
metadata request without retries tells whether the hub answers, so an offline
machine fails in seconds rather than after minutes of retries.
"""

import contextlib
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import huggingface_hub
import huggingface_hub.constants
import huggingface_hub.file_download
from benchopt import BaseDataset

from .errors import DataExhaustedError, MissingDataError, ShardError
from .paths import data_dir
from .shards import HEADER_BYTES, read_header
from .sources import OFFLINE_DEMO, ShardSource
from .track3 import track3_tokens_needed

TOKENS_PER_SHARD = 100_000_000
# The objective's default budget: 7,600 steps of 524,288 tokens in Track 3's
# order, i.e. 40 whole shards (as Track 3's quickstart downloads).
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
    """The environment variable when it is a positive number (as
    huggingface_hub reads it), else ``default``."""
    try:
        value = float(os.environ.get(variable, ""))
    except ValueError:
        return default
    return value if value > 0 else default


def etag_timeout():
    return _seconds("HF_HUB_ETAG_TIMEOUT", ETAG_TIMEOUT)


def download_timeout():
    return _seconds("HF_HUB_DOWNLOAD_TIMEOUT", DOWNLOAD_TIMEOUT)


@contextlib.contextmanager
def bounded_hub():
    """huggingface_hub's retry warnings silenced (our message says what
    failed, once) and its waits bounded: the transfer timeout, and the
    timeout of the metadata retries after a failed request (a private
    setting of huggingface_hub 1.x-2.x, 60 s each by default)."""
    logger = logging.getLogger("huggingface_hub")
    constants, module = huggingface_hub.constants, huggingface_hub.file_download
    saved = (
        logger.level,
        constants.HF_HUB_DOWNLOAD_TIMEOUT,
        getattr(module, "_ETAG_RETRY_TIMEOUT", None),
    )
    logger.setLevel(logging.ERROR)
    constants.HF_HUB_DOWNLOAD_TIMEOUT = download_timeout()
    if saved[2] is not None:
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
    (``limit``) and how long it took."""
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


def is_valid_shard(path):
    try:
        read_header(path)
        return True
    except ShardError:
        return False


class HubShardSource(ShardSource):
    """Shards ``{prefix}_val_000000.bin`` and ``{prefix}_train_{i:06d}.bin``
    (i = 1..n_train_shards) of a hub dataset repository.
    ``default_train_tokens``: the budget a missing validation shard's message
    names (the run's own budget is not known yet)."""

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
        self.repo_id, self.prefix, self.n_train_shards = repo_id, prefix, n_train_shards
        self.local_dir = Path(local_dir)
        self.target = target
        self.name = name or prefix
        self.default_train_tokens = default_train_tokens
        self.shard_tokens = TOKENS_PER_SHARD  # nominal: Track 3 counts whole shards
        self.log = log or (lambda message: print(message, file=sys.stderr))
        self._reachable = False  # set once a request to the hub succeeded

    def val_name(self):
        return shard_filename(self.prefix, "val", 0)

    def shards_for(self, n_tokens):
        """Training shard names a budget of ``n_tokens`` needs."""
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
        return [self.val_name(), *self.shards_for(n_tokens)]

    def missing(self, names):
        return [n for n in names if not is_valid_shard(self.local_dir / n)]

    def require(self, n_tokens):
        """Downloads what a budget of ``n_tokens`` lacks, or raises one
        :class:`MissingDataError` listing every file the run needs."""
        self.fetch_all(self.files_for(n_tokens), n_tokens)
        return [self.val_file(), *self.train_files(n_tokens)]

    def val_file(self):
        n = self.default_train_tokens
        try:
            return self.checked(self.fetch(self.val_name(), n))
        except MissingDataError as error:
            # Name what the default budget needs: its shards are asked next.
            missing = self.missing(self.files_for(n))
            raise self._missing_error(missing, n, error.reason, True) from None

    def train_files(self, n_tokens):
        paths = self.fetch_all(self.shards_for(n_tokens), n_tokens)
        # The last shard holds fewer tokens: fetch more until the budget fits.
        total = sum(read_header(p) for p in paths)
        while total < n_tokens and len(paths) < self.n_train_shards:
            name = shard_filename(self.prefix, "train", len(paths) + 1)
            paths.append(self.fetch(name, n_tokens))
            total += read_header(paths[-1])
        if total < n_tokens:
            raise DataExhaustedError(
                f"{self.name}: the {len(paths)} training shards of "
                f"{self.repo_id} hold {total:,} tokens but the run needs "
                f"{n_tokens:,}: lower max_steps or batch_tokens"
            )
        return [self.checked(p) for p in paths]

    def fetch_all(self, names, n_tokens):
        """Fetch ``names`` in order; the error of one that cannot be
        downloaded lists every file of ``names`` still missing."""
        try:
            return [self.fetch(name, n_tokens) for name in names]
        except MissingDataError as error:
            missing = self.missing(names)
            raise self._missing_error(missing, n_tokens, error.reason) from None

    def fetch(self, filename, n_tokens):
        """Path of a valid local copy of ``filename``, downloaded if missing
        or invalid (then forced: the hub's metadata may call a truncated copy
        up to date)."""
        path = self.local_dir / filename
        if is_valid_shard(path):
            return path
        if offline():
            raise self._missing_error([filename], n_tokens, "HF_HUB_OFFLINE is set")
        if not self._reachable:  # one quick request before any long wait
            url = huggingface_hub.hf_hub_url(
                self.repo_id, filename, repo_type="dataset"
            )
            self._ask_hub(
                lambda: huggingface_hub.get_hf_file_metadata(
                    url, timeout=etag_timeout()
                ),
                f"{etag_timeout():g} s (HF_HUB_ETAG_TIMEOUT)",
                filename,
                n_tokens,
            )
            self._reachable = True
        self.log(f"{self.name}: downloading {filename} from {self.repo_id}")
        downloaded = self._ask_hub(
            lambda: huggingface_hub.hf_hub_download(
                repo_id=self.repo_id,
                filename=filename,
                repo_type="dataset",
                local_dir=self.local_dir,
                force_download=path.exists() or path.is_symlink(),
                etag_timeout=etag_timeout(),
            ),
            f"{download_timeout():g} s per stalled read (HF_HUB_DOWNLOAD_TIMEOUT)",
            filename,
            n_tokens,
        )
        try:
            read_header(downloaded)
        except ShardError as error:
            Path(downloaded).unlink()  # never let it pass for a shard later
            raise ShardError(
                downloaded,
                f"downloaded from {self.repo_id} but not a valid shard "
                f"({error.problem}); deleted",
                "Run again to download it again; if it fails the same way, "
                "the hub serves a bad file: report it to the dataset's owner.",
            ) from None
        return Path(downloaded)

    def _ask_hub(self, request, limit, filename, n_tokens):
        """``request()`` with bounded waits; a failure is a
        :class:`MissingDataError` saying why and how long it waited."""
        start = time.monotonic()
        try:
            with bounded_hub():
                return request()
        except Exception as error:  # network, auth, hub errors
            reason = describe_failure(error, time.monotonic() - start, limit)
            raise self._missing_error([filename], n_tokens, reason) from None

    def _missing_error(self, names, n_tokens, reason=None, default_budget=False):
        """One screen: the missing files, why, the command that fetches them
        and what runs offline instead."""
        reason = reason or ("HF_HUB_OFFLINE is set" if offline() else "no network")
        listed = list(names[:MAX_LISTED])
        if len(names) > MAX_LISTED:
            listed.append(f"... and {len(names) - MAX_LISTED} more")
        size_gb = len(names) * (HEADER_BYTES + 2 * TOKENS_PER_SHARD) / 1e9
        if default_budget:
            budget = (
                f"the default budget of {n_tokens:,} training tokens (a shorter "
                "run needs fewer: --steps MAX_STEPS --batch-tokens BATCH_TOKENS)"
            )
        else:
            budget = (
                f"a budget of {n_tokens:,} training tokens: the objective's "
                "max_steps in Track 3's order, whole shards; a lower max_steps "
                f"(e.g. muon's N of 3,250: benchopt run . -d {self.name} -s muon "
                '-o "nanoGPT validation loss[max_steps=3250]") needs fewer'
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


def hub_source(name, target=None, local_dir=None, **kwargs):
    """The :class:`HubShardSource` of a dataset of :data:`HUB_DATASETS`:
    ``target=None`` keeps its standard target, ``local_dir=None`` uses the
    benchmark's data folder."""
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
    key of :data:`HUB_DATASETS`) and a ``target`` parameter. Nothing is
    downloaded until the objective asks for files; ``benchopt prepare``
    fetches the default budget."""

    prepare_cache_ignore = ("base_seed",)

    def _source(self):
        return hub_source(self.name, target=self.target)

    def prepare(self):
        self._source().require(DEFAULT_TRAIN_TOKENS)

    def get_data(self):
        return dict(source=self._source())
