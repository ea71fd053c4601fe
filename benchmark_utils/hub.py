"""Pre-tokenized shards from the Hugging Face hub, fetched on demand.

Only the validation shard and the training shards that a run's token budget
needs are downloaded; files already present are used without network.
"""

import os
from pathlib import Path

import huggingface_hub

from .shards import ShardError, read_header
from .sources import ShardSource

TOKENS_PER_SHARD = 100_000_000


class MissingDataError(RuntimeError):
    """Shards that are not on disk and cannot be downloaded now."""


def shard_filename(prefix, split, index):
    return f"{prefix}_{split}_{index:06d}.bin"


class HubShardSource(ShardSource):
    """Shards ``{prefix}_val_000000.bin`` and ``{prefix}_train_{i:06d}.bin``
    (i = 1..n_train_shards) of a hub dataset repository."""

    def __init__(
        self, repo_id, prefix, n_train_shards, local_dir, target=None, name=None
    ):
        self.repo_id = repo_id
        self.prefix = prefix
        self.n_train_shards = n_train_shards
        self.local_dir = Path(local_dir)
        self.target = target
        self.name = name or prefix

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

    def val_file(self):
        return self.fetch(shard_filename(self.prefix, "val", 0))

    def train_files(self, n_tokens):
        return [self.fetch(name) for name in self.shards_for(n_tokens)]

    def missing(self, names):
        return [n for n in names if not _is_valid(self.local_dir / n)]

    def fetch(self, filename):
        """Path of a validated local copy of ``filename``, downloading it if
        needed. A corrupt local copy is replaced."""
        path = self.local_dir / filename
        if _is_valid(path):
            return path
        if path.exists():
            path.unlink()  # truncated or corrupt: download again
        if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false"):
            raise self._missing_error([filename], "HF_HUB_OFFLINE is set")
        try:
            downloaded = huggingface_hub.hf_hub_download(
                repo_id=self.repo_id,
                filename=filename,
                repo_type="dataset",
                local_dir=self.local_dir,
            )
        except Exception as error:  # network, auth, hub errors
            raise self._missing_error([filename], str(error)) from error
        downloaded = Path(downloaded)
        try:
            read_header(downloaded)
        except ShardError:
            downloaded.unlink(missing_ok=True)
            raise
        return downloaded

    def _missing_error(self, names, reason):
        return MissingDataError(
            f"{self.name}: cannot download {', '.join(names)} from "
            f"{self.repo_id} into {self.local_dir} ({reason}). Run "
            f"`benchopt prepare . -d {self.name}` on a machine with internet "
            f"access, or copy the files into {self.local_dir}."
        )


def _is_valid(path):
    try:
        read_header(path)
        return True
    except ShardError:
        return False
