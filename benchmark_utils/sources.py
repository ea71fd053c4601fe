"""Data sources: what a dataset hands to the objective.

A source knows its validation shard and returns the training shards that a
token budget needs, so a run fetches or generates only what it will use.
"""

import json
import re
from pathlib import Path

from .markov import entropy_rate, make_chain, sample
from .shards import ShardError, read_header, write_shard


class ShardSource:
    """Base class. ``target``: default target validation loss (None: train
    for the whole budget); ``floor``: best achievable loss, when known."""

    name = "shards"
    vocab_size = 50257
    target = None
    floor = None
    repeat_data = False  # wrap around the training stream when it runs out
    bos_token = 50256  # GPT-2 <|endoftext|>, which precedes every document

    def val_file(self):
        raise NotImplementedError

    def train_files(self, n_tokens):
        """Ordered training shards holding at least ``n_tokens`` tokens."""
        raise NotImplementedError


def check_enough_tokens(files, n_tokens, what, hint=""):
    total = sum(read_header(f) for f in files)
    if total < n_tokens:
        raise ValueError(
            f"{what} hold {total:,} training tokens but the run needs "
            f"{n_tokens:,} (step budget x global batch): add shards, or lower "
            f"max_steps or batch_tokens{hint}"
        )
    return files


class LocalShardSource(ShardSource):
    """Shards already on disk."""

    def __init__(
        self,
        val_file,
        train_files,
        vocab_size=50257,
        target=None,
        floor=None,
        repeat_data=False,
        name="local",
    ):
        self.name = name
        self._val_file = Path(val_file)
        self._train_files = [Path(f) for f in train_files]
        if not self._train_files:
            raise ValueError(f"{name}: no training shards found")
        self.vocab_size = vocab_size
        self.target = target
        self.floor = floor
        self.repeat_data = repeat_data

    def val_file(self):
        read_header(self._val_file)
        return self._val_file

    def train_files(self, n_tokens):
        if self.repeat_data:
            for f in self._train_files:
                read_header(f)
            return list(self._train_files)
        return check_enough_tokens(
            self._train_files,
            n_tokens,
            f"{self.name}: the {len(self._train_files)} training shard(s)",
            hint=", or set repeat_data=True to train for several epochs",
        )


GLOB_CHARS = set("*?[")
MANIFEST_SUFFIX = "_tokenize.json"  # written by ``python -m benchmark_utils.tokenize``


def natural_key(path):
    """Sort key that orders ``x_2.bin`` before ``x_10.bin``."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", Path(path).name)]


def _tokenizer_manifest(folder):
    """``(vocab_size, bos_token)`` recorded by the tokenizer, if any."""
    for manifest in sorted(folder.glob(f"*{MANIFEST_SUFFIX}")):
        try:
            meta = json.loads(manifest.read_text())
            return int(meta["n_vocab"]), int(meta["bos_token"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


def folder_source(
    folder,
    train_pattern="*_train_*.bin",
    val_file="*_val_*.bin",
    repeat_data=False,
    target=None,
    name="local_shards",
):
    """A :class:`LocalShardSource` for a folder of shards.

    ``train_pattern`` is a glob (files in natural order); ``val_file`` is a
    file name or a glob that must match exactly one file; it is never used
    for training. Every file's header and size are checked now, so a wrong
    folder or a corrupt file fails before any training.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{name}: the shard folder {folder} does not exist. Point the "
            "dataset at a folder of token shards (e.g. -d "
            "'local_shards[folder=\"/path/to/shards\"]'), or write shards "
            "there with `python -m benchmark_utils.tokenize`."
        )
    shards = sorted(folder.glob("*.bin"), key=natural_key)
    listing = ", ".join(p.name for p in shards[:8]) or "no .bin file"
    if len(shards) > 8:
        listing += f", ... ({len(shards)} .bin files)"
    if GLOB_CHARS & set(str(val_file)):
        matches = sorted(folder.glob(val_file), key=natural_key)
        if len(matches) != 1:
            raise ValueError(
                f"{name}: val_file={val_file!r} must match exactly one file in "
                f"{folder} but matches {len(matches)} "
                f"({', '.join(p.name for p in matches) or 'none'}); the folder "
                f"holds: {listing}. Name the validation shard, e.g. "
                'val_file="x_val_000000.bin".'
            )
        val_path = matches[0]
    else:
        val_path = folder / Path(val_file).expanduser()
        if not val_path.is_file():
            raise FileNotFoundError(
                f"{name}: validation file {val_path} not found; the folder "
                f"holds: {listing}"
            )
    train = [
        p
        for p in sorted(folder.glob(train_pattern), key=natural_key)
        if p.resolve() != val_path.resolve() and p.is_file()
    ]
    if not train:
        raise ValueError(
            f"{name}: no training shard matches train_pattern="
            f"{train_pattern!r} in {folder}; the folder holds: {listing}"
        )
    for path in [val_path, *train]:
        read_header(path)  # ShardError names the file and the problem
    vocab_size, bos_token = _tokenizer_manifest(folder) or (50257, 50256)
    source = LocalShardSource(
        val_path,
        train,
        vocab_size=vocab_size,
        target=target,
        repeat_data=repeat_data,
        name=name,
    )
    source.bos_token = bos_token
    return source


class MarkovSource(ShardSource):
    """The synthetic Markov language, generated into ``cache_dir`` on demand.

    Shard ``i`` depends only on (parameters, seed, i): generation is
    deterministic, reuses valid files already there, and regenerates a file
    that is missing or corrupt.
    """

    name = "simulated"
    bos_token = None  # no documents: one continuous chain

    def __init__(
        self,
        cache_dir,
        vocab_size=128,
        n_successors=4,
        concentration=1.0,
        seed=0,
        shard_tokens=1_000_000,
        n_val_tokens=200_000,
        target_margin=0.1,
    ):
        self.vocab_size = vocab_size
        self.shard_tokens = shard_tokens
        self.n_val_tokens = n_val_tokens
        self.seed = seed
        self.chain = make_chain(vocab_size, n_successors, seed, concentration)
        self.floor = entropy_rate(self.chain)
        self.target = self.floor + target_margin
        key = (
            f"markov_V{vocab_size}_K{n_successors}_a{concentration:g}_"
            f"seed{seed}_shard{shard_tokens}_val{n_val_tokens}"
        )
        self.cache_dir = Path(cache_dir) / key
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        meta = self.cache_dir / "meta.json"
        if not meta.exists():
            meta.write_text(json.dumps({"floor_nats": self.floor}, indent=1))

    def _ensure(self, path, n_tokens, seed):
        try:
            if read_header(path) == n_tokens:
                return path
        except ShardError:
            pass
        write_shard(path, sample(self.chain, n_tokens, seed))
        return path

    def val_file(self):
        return self._ensure(
            self.cache_dir / "markov_val_000000.bin", self.n_val_tokens, [self.seed, 0]
        )

    def train_files(self, n_tokens):
        n_shards = max(1, -(-n_tokens // self.shard_tokens))
        return [
            self._ensure(
                self.cache_dir / f"markov_train_{i:06d}.bin",
                self.shard_tokens,
                [self.seed, i],
            )
            for i in range(1, n_shards + 1)
        ]
