"""Data sources: what a dataset hands to the objective. A source knows its
validation shard and returns the training shards a token budget needs, so a
run fetches or generates only what it uses; building one touches nothing, so
the objective checks its settings first."""

import json
import re
import shlex
import warnings
from pathlib import Path

from .errors import (
    DataError,
    DataExhaustedError,
    DataWarning,
    IncompleteCorpusError,
    ManifestError,
    MissingFolderError,
    ShardError,
)
from .shards import MAX_TOKEN_ID, check_token_ids, file_stamp, natural_key, read_header

OFFLINE_DEMO = "benchopt run . --config configs/cpu_demo.yml"
MANIFEST_SUFFIX = "_tokenize.json"  # written by ``python -m benchmark_tools.tokenizer``
NUMBERED = re.compile(r"^(.*?)(\d+)(\.[^.]*)$")  # prefix, number, suffix


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
        """Every file a run of ``n_tokens`` training tokens reads, fetched or
        generated if needed and checked: the objective calls it first, so
        missing or bad data fails before anything else, with one message."""
        return [self.val_file(), *self.train_files(n_tokens)]

    def checked(self, path):
        """``path``, once its token ids are known to fit the vocabulary."""
        check_token_ids(path, self.vocab_size, self.vocab_origin)
        return path


class LocalShardSource(ShardSource):
    """Shards already on disk."""

    def __init__(
        self,
        val_file,
        train_files,
        vocab_size=50257,
        target=None,
        repeat_data=False,
        name="local",
        vocab_origin="GPT-2",
        bos_token=50256,
    ):
        self.name, self.target, self.repeat_data = name, target, repeat_data
        self._val_file = Path(val_file)
        self._train_files = [Path(f) for f in train_files]
        if not self._train_files:
            raise DataError(f"{name}: no training shard given")
        self.vocab_size, self.bos_token = vocab_size, bos_token
        self.vocab_origin = vocab_origin

    def val_file(self):
        return self.checked(self._val_file)

    def train_files(self, n_tokens):
        files = self._train_files
        total = sum(read_header(f) for f in files)
        if not self.repeat_data and total < n_tokens:
            raise DataExhaustedError(
                f"{self.name}: the {len(files)} training shard(s) hold {total:,} "
                f"training tokens but the run needs {n_tokens:,} (step budget x "
                "global batch): add shards, or lower max_steps or batch_tokens, "
                "or set repeat_data=True to train for several epochs"
            )
        return [self.checked(f) for f in files]


def read_manifest(path):
    """A tokenizer manifest, its fields checked: a manifest that cannot be
    trusted must not silently set the vocabulary or hide an unfinished run."""
    what = f"the tokenizer manifest {Path(path)}"

    def error(problem):
        return ManifestError(
            f"{problem}. Run the tokenize command that wrote it again (it "
            "rewrites the manifest), or delete it if these shards come from "
            "elsewhere (the vocabulary is then GPT-2's)."
        )

    try:
        meta = json.loads(Path(path).read_text())
    except (OSError, ValueError) as problem:
        raise error(f"cannot read {what} ({problem})") from None
    if not isinstance(meta, dict):
        raise error(f"{what} is not a JSON object")
    for key in ("n_vocab", "bos_token"):
        value = meta.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise error(f"{what} has {key}={value!r}, not an integer")
    if not 1 <= meta["n_vocab"] <= MAX_TOKEN_ID + 1:
        raise error(
            f"{what} has n_vocab={meta['n_vocab']}: uint16 shards hold "
            f"vocabularies of 1..{MAX_TOKEN_ID + 1} ids"
        )
    if not 0 <= meta["bos_token"] < meta["n_vocab"]:
        raise error(
            f"{what} has bos_token={meta['bos_token']}, outside its "
            f"vocabulary of n_vocab={meta['n_vocab']} ids"
        )
    return meta


def tokenizer_manifests(folder, files):
    """``{path: manifest}`` of the manifests that describe ``files`` (by their
    ``{prefix}_`` name); all of the folder's when none matches by name."""
    found = sorted(Path(folder).glob(f"*{MANIFEST_SUFFIX}"))
    names = [Path(f).name for f in files]
    ours = [
        m
        for m in found
        if any(n.startswith(m.name[: -len(MANIFEST_SUFFIX)] + "_") for n in names)
    ]
    return {m: read_manifest(m) for m in (ours or found)}


def resume_command(manifest, manifest_file):
    """The tokenize command that finishes the run ``manifest`` records: the
    command it saved, else one rebuilt from its inputs and options."""
    if manifest.get("command"):
        cwd = manifest.get("cwd")
        prefix = f"cd {shlex.quote(cwd)} && " if cwd else ""
        return prefix + manifest["command"]
    fp = manifest.get("fingerprint") or {}
    args = ["python", "-m", "benchmark_tools.tokenizer"]
    args += [item[0] for item in fp.get("inputs", []) if item]
    prefix = Path(manifest_file).name[: -len(MANIFEST_SUFFIX)]
    args += ["--out", str(Path(manifest_file).parent), "--prefix", prefix]
    for key in ("encoding", "shard_tokens"):
        if fp.get(key):
            args += [f"--{key.replace('_', '-')}", str(fp[key])]
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
            "or, to train on the shards written so far, add "
            "allow_incomplete=True to the dataset of your run, e.g.:\n  "
            f'benchopt run . -d \'{name}[folder="{folder}",'
            "allow_incomplete=True]' (with your other options)."
        )


def shard_patterns(train_pattern, val_file):
    """The globs a folder dataset reads: its shards and the manifests."""
    return (str(train_pattern), str(val_file), f"*{MANIFEST_SUFFIX}")


def folder_fingerprint(folder, patterns):
    """``[[name, size, mtime_ns, inode], ...]`` of the files of ``folder``
    matching ``patterns``, in name order: changes when a file is added,
    removed or rewritten, without reading any (for benchopt's cache key).
    Never raises: the run reports what is wrong with the folder."""
    folder = Path(folder).expanduser()
    files = set()
    for pattern in patterns:
        try:
            files.update(folder.glob(pattern))
        except (OSError, ValueError):
            pass
    stamps = []
    for path in sorted(files, key=natural_key):
        try:
            stamps.append([path.name, *file_stamp(path)])
        except OSError:  # a dangling link: its name is enough
            stamps.append([path.name])
    return stamps


def check_corpus(files, manifests, name):
    """Warn (:class:`DataWarning`) about training shards that look like a
    mistake: two corpora in one folder (two name prefixes, or manifests of
    different inputs) or a gap in the numbering."""
    groups = {}
    for path in files:
        match = NUMBERED.match(Path(path).name)
        key = (match.group(1), match.group(3)) if match else (Path(path).name, "")
        groups.setdefault(key, []).append(match and int(match.group(2)))
    messages = []
    if len(groups) > 1:
        listing = ", ".join(f"{p}*{x} ({len(n)})" for (p, x), n in groups.items())
        messages.append(
            f"the training shards have {len(groups)} different name prefixes "
            f"({listing}): two corpora in one folder? Choose one with the "
            'dataset\'s train_pattern, e.g. train_pattern="fineweb_train_*.bin".'
        )
    for (prefix, suffix), numbers in groups.items():
        numbers = sorted(n for n in numbers if n is not None)
        if not numbers:
            continue
        missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
        if missing:
            shown = ", ".join(str(n) for n in missing[:8])
            more = f" and {len(missing) - 8} more" if len(missing) > 8 else ""
            messages.append(
                f"gap in the shard numbering of {prefix}*{suffix}: number(s) "
                f"{shown}{more} between {numbers[0]} and {numbers[-1]} are "
                "missing; training reads the others in order. Download or "
                "copy the missing shards if this is not intended."
            )
    inputs = {
        path.name: json.dumps(meta["fingerprint"], sort_keys=True)
        for path, meta in manifests.items()
        if meta.get("fingerprint") is not None
    }
    if len(set(inputs.values())) > 1:
        messages.append(
            f"the tokenizer manifests {', '.join(sorted(inputs))} describe "
            "different corpora (inputs or options), and the folder's shards "
            "mix them: keep one tokenization per folder, or choose its files "
            "with the dataset's train_pattern and val_file."
        )
    for message in messages:
        warnings.warn(f"{name}: {message}", DataWarning, stacklevel=3)


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

    ``train_pattern``: a glob (files in natural order); ``val_file``: a name
    or a glob matching exactly one file, never used for training. Every
    matching file's header and size are checked now (token ids when the
    files are asked for), so a wrong folder or a file that is not a shard
    fails before any training. The vocabulary and BOS token come from the
    tokenizer manifest (``*_tokenize.json``), GPT-2's otherwise; a manifest
    of an unfinished tokenization is refused unless ``allow_incomplete``.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise MissingFolderError(
            f"{name}: the shard folder {folder} {what}. Point the dataset at a "
            "folder of token shards, e.g.:\n  benchopt run . -d "
            "'local_shards[folder=\"/path/to/shards\"]' (with your other "
            "options)\nor write shards there with `python -m "
            "benchmark_tools.tokenizer`. Without data, the CPU demo runs "
            f"offline on generated data:\n  {OFFLINE_DEMO}",
            files=[folder],
        )
    shards = sorted(folder.glob("*.bin"), key=natural_key)
    if not allow_incomplete:  # first: an unfinished run may lack a split
        check_complete(tokenizer_manifests(folder, shards), name, folder)
    listing = ", ".join(p.name for p in shards[:8]) or "no .bin file"
    if len(shards) > 8:
        listing += f", ... ({len(shards)} .bin files)"
    if set("*?[") & set(str(val_file)):
        matches = sorted(folder.glob(val_file), key=natural_key)
        if len(matches) != 1:
            raise DataError(
                f"{name}: val_file={val_file!r} must match exactly one file in "
                f"{folder} but matches {len(matches)} "
                f"({', '.join(p.name for p in matches) or 'none'}); the folder "
                f"holds: {listing}. Name the validation shard, e.g. "
                'val_file="x_val_000000.bin".'
            )
        val_path = matches[0]
    else:
        val_path = folder / Path(val_file).expanduser()
        if not val_path.exists() and not val_path.is_symlink():
            raise ShardError(
                val_path,
                "validation file not found",
                f"The folder holds: {listing}. Name the validation shard with "
                "the dataset's val_file.",
            )
    # Everything the pattern matches is a training shard, or an error that
    # names it: a directory or a dangling link is never silently skipped.
    train = [
        p
        for p in sorted(folder.glob(train_pattern), key=natural_key)
        if p.resolve() != val_path.resolve()
    ]
    if not train:
        raise DataError(
            f"{name}: no training shard matches train_pattern="
            f"{train_pattern!r} in {folder}; the folder holds: {listing}"
        )
    for path in [val_path, *train]:
        read_header(path)  # ShardError names the file and the problem
    manifests = tokenizer_manifests(folder, [val_path, *train])
    vocab = {(m["n_vocab"], m["bos_token"]) for m in manifests.values()}
    if len(vocab) > 1:
        raise ManifestError(
            f"{name}: the tokenizer manifests of {folder} disagree on the "
            f"vocabulary or BOS token ({', '.join(p.name for p in manifests)}: "
            f"(n_vocab, bos_token) = {sorted(vocab)}): keep one tokenization "
            "per folder, or choose its files with train_pattern and val_file"
        )
    check_corpus(train, manifests, name)
    vocab_size, bos_token = vocab.pop() if vocab else (50257, 50256)
    origin = ", ".join(p.name for p in manifests)
    return LocalShardSource(
        val_path,
        train,
        vocab_size=vocab_size,
        target=target,
        repeat_data=repeat_data,
        name=name,
        vocab_origin=f"n_vocab in {origin}" if manifests else "GPT-2",
        bos_token=bos_token,
    )
