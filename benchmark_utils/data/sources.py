"""Data sources: what a dataset hands to the objective.

A source knows its validation shard and returns the training shards that a
token budget needs, so a run fetches or generates only what it will use.
"""

import json
import math
import re
import shlex
from pathlib import Path

from .markov import (
    context_entropy,
    entropy_rate,
    make_chain,
    sample,
    stationary_distribution,
    window_floor,
)
from .shards import (
    MAX_TOKEN_ID,
    ShardError,
    check_token_ids,
    read_header,
    write_shard,
)

OFFLINE_DEMO = "benchopt run . --config configs/cpu_demo.yml"


class MissingDataError(RuntimeError):
    """Shards that are not on disk and cannot be downloaded now."""

    def __init__(self, message, files=(), reason=None):
        super().__init__(message)
        self.files = list(files)
        self.reason = reason


class MissingFolderError(MissingDataError, FileNotFoundError):
    """The shard folder of a local dataset does not exist."""


class ShardSource:
    """Base class. ``target``: default target validation loss (None: train
    for the whole budget); ``floor``: best achievable loss, when known."""

    name = "shards"
    vocab_size = 50257
    target = None
    floor = None
    repeat_data = False  # wrap around the training stream when it runs out
    bos_token = 50256  # GPT-2 <|endoftext|>, which precedes every document
    vocab_origin = "GPT-2"  # where vocab_size comes from, for messages

    def val_file(self):
        """The validation shard, checked (header, size, token ids)."""
        raise NotImplementedError

    def train_files(self, n_tokens):
        """Ordered training shards holding at least ``n_tokens`` tokens,
        checked (header, size, token ids)."""
        raise NotImplementedError

    def require(self, n_tokens):
        """Every file a run of ``n_tokens`` training tokens reads: the
        validation shard then the training shards, fetched or generated if
        needed and checked. The objective calls it first, so that missing or
        bad data fails before anything else, with one message."""
        return [self.val_file(), *self.train_files(n_tokens)]

    def checked(self, path):
        """``path``, once its token ids are known to fit the vocabulary (a bad
        id would otherwise be an anonymous ``IndexError`` in the model)."""
        check_token_ids(path, self.vocab_size, self.vocab_origin)
        return path


def check_enough_tokens(files, n_tokens, what, hint=""):
    """``files`` if they hold ``n_tokens`` tokens, else a ValueError."""
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
        vocab_origin=None,
    ):
        self.name = name
        self._val_file = Path(val_file)
        self._train_files = [Path(f) for f in train_files]
        if not self._train_files:
            raise ValueError(f"{name}: no training shards found")
        self.vocab_size = vocab_size
        self.vocab_origin = vocab_origin or (
            "GPT-2" if vocab_size == 50257 else "vocab_size"
        )
        self.target = target
        self.floor = floor
        self.repeat_data = repeat_data

    def val_file(self):
        return self.checked(self._val_file)

    def train_files(self, n_tokens):
        if self.repeat_data:
            files = list(self._train_files)
        else:
            files = check_enough_tokens(
                self._train_files,
                n_tokens,
                f"{self.name}: the {len(self._train_files)} training shard(s)",
                hint=", or set repeat_data=True to train for several epochs",
            )
        return [self.checked(f) for f in files]


GLOB_CHARS = set("*?[")
MANIFEST_SUFFIX = "_tokenize.json"  # written by ``python -m benchmark_utils.tokenize``


def natural_key(path):
    """Sort key that orders ``x_2.bin`` before ``x_10.bin``."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", Path(path).name)]


class IncompleteCorpusError(ValueError):
    """The tokenizer's manifest says it has not finished this folder."""


def read_manifest(path):
    """A tokenizer manifest, its fields checked: a manifest that cannot be
    trusted must not silently set the vocabulary or hide an unfinished run."""
    path = Path(path)
    fix = (
        "Run the tokenize command that wrote it again (it rewrites the "
        "manifest), or delete it if these shards come from elsewhere (the "
        "vocabulary is then GPT-2's)."
    )
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(
            f"cannot read the tokenizer manifest {path} ({error}). {fix}"
        ) from None
    if not isinstance(meta, dict):
        raise ValueError(f"the tokenizer manifest {path} is not a JSON object. {fix}")
    for key in ("n_vocab", "bos_token"):
        value = meta.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(
                f"the tokenizer manifest {path} has {key}={value!r}, not an "
                f"integer. {fix}"
            )
    if not 1 <= meta["n_vocab"] <= MAX_TOKEN_ID + 1:
        raise ValueError(
            f"the tokenizer manifest {path} has n_vocab={meta['n_vocab']}: "
            f"uint16 shards hold vocabularies of 1..{MAX_TOKEN_ID + 1} ids. {fix}"
        )
    if not 0 <= meta["bos_token"] < meta["n_vocab"]:
        raise ValueError(
            f"the tokenizer manifest {path} has bos_token={meta['bos_token']}, "
            f"outside its vocabulary of n_vocab={meta['n_vocab']} ids. {fix}"
        )
    return meta


def tokenizer_manifests(folder, files):
    """``{path: manifest}`` of the ``*_tokenize.json`` manifests that describe
    ``files`` (by their ``{prefix}_`` name); all of the folder's when none
    matches by name."""
    found = sorted(Path(folder).glob(f"*{MANIFEST_SUFFIX}"))
    names = [Path(f).name for f in files]
    ours = [
        m
        for m in found
        if any(n.startswith(m.name[: -len(MANIFEST_SUFFIX)] + "_") for n in names)
    ]
    return {m: read_manifest(m) for m in (ours or found)}


def resume_command(manifest, manifest_file):
    """The tokenize command that finishes the run that ``manifest`` records
    (the same command again): recorded since the tokenizer saves it, else
    rebuilt from the recorded inputs and options."""
    if manifest.get("command"):
        command = manifest["command"]
        if manifest.get("cwd"):
            command = f"cd {shlex.quote(manifest['cwd'])} && {command}"
        return command
    fp = manifest.get("fingerprint") or {}
    inputs = [item[0] for item in fp.get("inputs", []) if item]
    args = ["python", "-m", "benchmark_utils.tokenize", *inputs]
    prefix = Path(manifest_file).name[: -len(MANIFEST_SUFFIX)]
    args += ["--out", str(Path(manifest_file).parent), "--prefix", prefix]
    if fp.get("encoding"):
        args += ["--encoding", str(fp["encoding"])]
    if fp.get("shard_tokens"):
        args += ["--shard-tokens", str(fp["shard_tokens"])]
    if fp.get("val_tokens"):
        args += ["--val-tokens", str(fp["val_tokens"])]
    else:
        args += ["--val-fraction", str(fp.get("val_fraction", 0.0))]
    for key in ("text_column", "txt_mode", "max_docs"):
        if fp.get(key) is not None:
            args += [f"--{key.replace('_', '-')}", str(fp[key])]
    return shlex.join(args)


def check_complete(manifests, name, folder):
    """Refuse a folder whose tokenization has not finished: training would
    silently use a partial corpus."""
    for path, meta in manifests.items():
        if meta.get("complete") is not False:
            continue
        splits = meta.get("splits") or {}
        done = {s: len((splits.get(s) or {}).get("shards", [])) for s in splits}
        written = ", ".join(f"{n} {s}" for s, n in done.items()) or "none"
        raise IncompleteCorpusError(
            f"{name}: {path} says the tokenization of {folder} is incomplete "
            f"(shards written so far: {written}); it was interrupted or is "
            "still running, and training now would use a partial corpus. "
            "Finish it by running the same command again (it resumes after "
            f"the last complete shard):\n  {resume_command(meta, path)}\n"
            "or, to train on the shards written so far, set "
            f'allow_incomplete=True: -d \'{name}[folder="{folder}",'
            "allow_incomplete=True]'."
        )


def folder_source(
    folder,
    train_pattern="*_train_*.bin",
    val_file="*_val_*.bin",
    repeat_data=False,
    target=None,
    name="local_shards",
    allow_incomplete=False,
):
    """A :class:`LocalShardSource` for a folder of shards.

    ``train_pattern`` is a glob (files in natural order); ``val_file`` is a
    file name or a glob that must match exactly one file; it is never used
    for training. Every file's header and size are checked now, so a wrong
    folder or a corrupt file fails before any training; token ids are checked
    when the files are asked for. The vocabulary and BOS token come from the
    folder's tokenizer manifest (``*_tokenize.json``), GPT-2's otherwise; a
    manifest of an unfinished tokenization is refused unless
    ``allow_incomplete``.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise MissingFolderError(
            f"{name}: the shard folder {folder} does not exist. Point the "
            "dataset at a folder of token shards (e.g. -d "
            "'local_shards[folder=\"/path/to/shards\"]'), or write shards "
            "there with `python -m benchmark_utils.tokenize`. Without data, "
            f"the CPU demo runs offline on generated data: {OFFLINE_DEMO}",
            files=[folder],
        )
    shards = sorted(folder.glob("*.bin"), key=natural_key)
    if not allow_incomplete:  # first: an unfinished run may lack a split
        check_complete(tokenizer_manifests(folder, shards), name, folder)
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
    manifests = tokenizer_manifests(folder, [val_path, *train])
    vocab = {(m["n_vocab"], m["bos_token"]) for m in manifests.values()}
    if len(vocab) > 1:
        raise ValueError(
            f"{name}: the tokenizer manifests of {folder} disagree on the "
            f"vocabulary or BOS token ({', '.join(p.name for p in manifests)}: "
            f"(n_vocab, bos_token) = {sorted(vocab)}): keep one tokenization "
            "per folder, or choose its files with train_pattern and val_file"
        )
    vocab_size, bos_token = vocab.pop() if vocab else (50257, 50256)
    origin = (
        f"n_vocab in {', '.join(p.name for p in manifests)}" if manifests else "GPT-2"
    )
    source = LocalShardSource(
        val_path,
        train,
        vocab_size=vocab_size,
        target=target,
        repeat_data=repeat_data,
        name=name,
        vocab_origin=origin,
    )
    source.bos_token = bos_token
    return source


class MarkovSource(ShardSource):
    """The synthetic Markov language, generated into ``cache_dir`` on demand.

    ``order`` 1: the next token depends on the previous one only, which an
    embedding and output head alone (a bigram model) learn to the floor.
    ``order`` 2: it depends on the previous two, so a model needs attention;
    ``bigram_loss`` is the best loss of a model that sees one previous token.
    The default stays 1 (what the constructor always built, and what the
    tests' tiny problems expect); the ``simulated`` dataset asks for 2.

    Shard ``i`` depends only on (parameters, seed, i): generation is
    deterministic, reuses valid files already there, and regenerates a file
    that is missing or corrupt. The cache folder's name holds every
    parameter, the order included.

    ``floor`` is the chain's entropy rate. A validation window's first
    prediction sees one token only (its second, two), so even the exact
    chain scores slightly above it: ``window_floor(seq_len)``.
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
        order=1,
    ):
        self.vocab_size = vocab_size
        self.order = order
        self.shard_tokens = shard_tokens
        self.n_val_tokens = n_val_tokens
        self.seed = seed
        self.chain = make_chain(
            vocab_size, n_successors, seed, concentration, order=order
        )
        self._pi = stationary_distribution(self.chain)
        self.floor = entropy_rate(self.chain, self._pi)
        self.bigram_loss = context_entropy(self.chain, 1, self._pi)
        self.target = self.floor + target_margin
        key = (
            f"markov_o{order}_V{vocab_size}_K{n_successors}_a{concentration:g}_"
            f"seed{seed}_shard{shard_tokens}_val{n_val_tokens}"
        )
        self.cache_dir = Path(cache_dir) / key
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        meta = self.cache_dir / "meta.json"
        if not meta.exists():
            info = {
                "order": order,
                "floor_nats": self.floor,
                "bigram_nats": self.bigram_loss,
                "uniform_nats": math.log(vocab_size),
            }
            meta.write_text(json.dumps(info, indent=1))

    def window_floor(self, seq_len):
        """Best mean loss over validation windows of ``seq_len`` tokens."""
        return window_floor(self.chain, seq_len, self._pi)

    def _ensure(self, path, n_tokens, seed):
        try:
            if read_header(path) == n_tokens:
                return path
        except ShardError:
            pass
        write_shard(path, sample(self.chain, n_tokens, seed, pi=self._pi))
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
