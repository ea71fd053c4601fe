"""Token shards in the llm.c / modded-nanogpt format.

A shard is a 1024-byte header of 256 little-endian int32 (magic 20240520,
version 1, number of tokens, zeros) followed by that many little-endian uint16
token ids. Shards are read through ``numpy.memmap`` so that memory never grows
with the number or size of shards.
"""

import json
import math
import os
import re
from pathlib import Path

import numpy as np

from .errors import DataError, ShardError

MAGIC = 20240520
VERSION = 1
HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4
TOKEN_DTYPE = np.dtype("<u2")
MAX_TOKEN_ID = np.iinfo(np.uint16).max


REGENERATE = "Delete the file and download or regenerate it."
RESTORE = "Download, copy or regenerate it, or change the dataset's file patterns."
SCAN_CHUNK_TOKENS = 1 << 23  # 16 MB of uint16 per step of a token-id scan
CACHE_ENV = "NANOGPT_BENCH_CACHE"
CACHE_MAX_ENTRIES = 4096


def natural_key(path):
    """Sort key: numbers in a path compare as numbers (``_2`` before ``_10``),
    so shards are read in the order their names count."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(path))]


class TokenRangeError(ShardError):
    """A shard holds a token id outside the vocabulary: caught when the data
    is opened rather than as an anonymous ``IndexError`` in the embedding."""

    def __init__(self, path, position, value, vocab_size, origin=None):
        self.position, self.value, self.vocab_size = position, value, vocab_size
        padded = 64 * math.ceil(vocab_size / 64)  # the model's padded vocabulary
        where = f" ({origin})" if origin else ""
        problem = (
            f"token id {value:,} at token index {position:,} is outside the "
            f"vocabulary of {vocab_size:,} ids{where}, valid ids 0..{vocab_size - 1:,}"
        )
        if value < padded:
            problem += (
                f"; ids {vocab_size:,}..{padded - 1:,} only pad the model's "
                "embedding and are never real tokens"
            )
        super().__init__(
            path,
            problem,
            "The shards were written with another tokenizer or vocabulary, or "
            "the file is corrupt: tokenize the corpus again (python -m "
            "benchmark_tools.tokenizer ... --overwrite) or download the file "
            "again; if the ids are right, fix n_vocab in the folder's "
            "*_tokenize.json manifest. Look inside with: python -m "
            f"benchmark_tools.inspect_shards {Path(path)}",
        )


def write_shard(path, tokens):
    """Write ``tokens`` as a shard, atomically (temporary file then rename).

    An interrupted write never leaves a file under ``path`` that could pass as
    a shard.
    """
    path = Path(path)
    tokens = np.asarray(tokens)
    if tokens.ndim != 1:
        raise DataError(f"tokens must be 1-D, got shape {tokens.shape}")
    if tokens.size and (tokens.min() < 0 or tokens.max() > MAX_TOKEN_ID):
        raise DataError(f"token ids must lie in [0, {MAX_TOKEN_ID}] to fit in uint16")
    header = np.zeros(HEADER_INTS, dtype="<i4")
    header[0], header[1], header[2] = MAGIC, VERSION, tokens.size
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(header.tobytes())
            f.write(tokens.astype(TOKEN_DTYPE, copy=False).tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def check_regular_file(path):
    """Raise a :class:`ShardError` that says what ``path`` is when it is not
    a regular file (missing, a directory, a dangling symbolic link...)."""
    path = Path(path)
    if path.is_file():
        return path
    if path.is_symlink() and not path.exists():
        problem = f"a symbolic link to {os.readlink(path)}, which does not exist"
        raise ShardError(path, problem, "Fix or delete the link. " + RESTORE)
    if path.is_dir():
        raise ShardError(
            path,
            "is a directory, not a shard file",
            "Move it out of the shard folder or rename it so that the dataset's "
            "train_pattern and val_file do not match it.",
        )
    if path.exists():
        raise ShardError(path, "is not a regular file", RESTORE)
    raise ShardError(path, "file not found", RESTORE)


def file_stamp(path):
    """``(size, mtime_ns, inode)``: changes when a file is rewritten or
    replaced, without reading it."""
    st = Path(path).stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def read_header(path):
    """Validate a shard (header and size) and return its number of tokens."""
    path = check_regular_file(path)
    size = path.stat().st_size
    if size < HEADER_BYTES:
        raise ShardError(
            path,
            f"truncated header ({size} bytes, expected at least {HEADER_BYTES})",
            REGENERATE,
        )
    header = np.fromfile(path, dtype="<i4", count=HEADER_INTS)
    if header[0] != MAGIC:
        raise ShardError(
            path,
            f"wrong magic number {header[0]} (expected {MAGIC}): not a token shard",
            REGENERATE,
        )
    if header[1] != VERSION:
        raise ShardError(
            path, f"unsupported version {header[1]} (expected {VERSION})", REGENERATE
        )
    n_tokens = int(header[2])
    if n_tokens < 0:
        raise ShardError(path, f"negative token count {n_tokens} in header", REGENERATE)
    expected = HEADER_BYTES + 2 * n_tokens
    if size != expected:
        what = "truncated" if size < expected else "too large"
        raise ShardError(
            path,
            f"{what}: header announces {n_tokens} tokens "
            f"({expected} bytes) but the file has {size} bytes",
            REGENERATE,
        )
    return n_tokens


def open_shard(path):
    """Memory-map the tokens of a validated shard (read-only, uint16)."""
    n_tokens = read_header(path)
    if n_tokens == 0:
        return np.zeros(0, dtype=TOKEN_DTYPE)
    return np.memmap(
        path, dtype=TOKEN_DTYPE, mode="r", offset=HEADER_BYTES, shape=(n_tokens,)
    )


def read_tokens(path, start=0, count=None):
    """Read ``count`` tokens from ``start`` as int64 (a copy, not a view)."""
    tokens = open_shard(path)
    stop = len(tokens) if count is None else start + count
    if stop > len(tokens):
        raise ShardError(
            path,
            f"asked for tokens up to {stop} but it holds {len(tokens)}",
            "Ask for fewer tokens (e.g. a smaller val_tokens).",
        )
    return np.array(tokens[start:stop], dtype=np.int64)


def first_out_of_range(tokens, vocab_size, chunk_tokens=SCAN_CHUNK_TOKENS):
    """``(index, value)`` of the first id ``>= vocab_size`` in ``tokens`` (a
    memory map is read ``chunk_tokens`` at a time), or None."""
    for start in range(0, len(tokens), chunk_tokens):
        chunk = np.asarray(tokens[start : start + chunk_tokens])
        if chunk.size and int(chunk.max()) >= vocab_size:
            index = int(np.argmax(chunk >= vocab_size))
            return start + index, int(chunk[index])
    return None


def cache_dir():
    """Where the benchmark caches facts about files (not the files): kept out
    of the shard folders, which may be read-only."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "nanogpt_bench"


class ScanCache:
    """Largest token id per shard, keyed by absolute path, size and mtime, so
    that a shard is scanned once, not at every run. A missing, corrupt or
    unwritable cache only costs a new scan: it never fails a run."""

    def __init__(self, path=None):
        self.path = Path(path) if path else cache_dir() / "token_ranges.json"
        self._entries = None

    @staticmethod
    def key(path):
        path = Path(path).resolve()
        return str(path), file_stamp(path)[:2]

    def _load(self):
        if self._entries is None:
            try:
                entries = json.loads(self.path.read_text())
                self._entries = entries if isinstance(entries, dict) else {}
            except (OSError, ValueError):
                self._entries = {}
        return self._entries

    def get(self, path):
        """The cached largest id of ``path``, or None."""
        try:
            name, stamp = self.key(path)
            entry = self._load().get(name)
        except Exception:
            return None
        if isinstance(entry, list) and len(entry) == 3 and entry[:2] == stamp:
            if isinstance(entry[2], int):
                return entry[2]
        return None

    def put(self, path, max_id):
        """Record the largest id of ``path``; silently skipped if the cache
        cannot be written."""
        tmp = self.path.with_name(f"{self.path.name}.tmp{os.getpid()}")
        try:
            name, stamp = self.key(path)
            self._entries = None  # merge with what other processes wrote
            entries = self._load()
            entries.pop(name, None)
            entries[name] = [*stamp, int(max_id)]
            while len(entries) > CACHE_MAX_ENTRIES:  # the oldest go first
                entries.pop(next(iter(entries)))
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(entries))
            os.replace(tmp, self.path)
        except Exception:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass


def scan_cache():
    """The :class:`ScanCache` of the current cache folder, or None when there
    is none (no home folder): a cache is never a reason to fail."""
    try:
        return ScanCache(cache_dir() / "token_ranges.json")
    except Exception:
        return None


def token_chunks(path, chunk_tokens=SCAN_CHUNK_TOKENS):
    """``(start, tokens)`` over a validated shard, ``chunk_tokens`` at a time,
    read into one reused buffer: memory stays at one chunk however large the
    shard (a memory map would keep every page it touched resident)."""
    n_tokens = read_header(path)
    buf = np.empty(max(1, min(chunk_tokens, n_tokens)), dtype=TOKEN_DTYPE)
    with open(path, "rb") as f:
        f.seek(HEADER_BYTES)
        for start in range(0, n_tokens, len(buf)):
            view = buf[: min(len(buf), n_tokens - start)]
            filled = 0
            while filled < view.nbytes:
                got = f.readinto(memoryview(view).cast("B")[filled:])
                if not got:
                    raise ShardError(
                        path, f"truncated while reading token {start:,}", REGENERATE
                    )
                filled += got
            yield start, view


def scan_tokens(path, vocab_size=None, chunk_tokens=SCAN_CHUNK_TOKENS):
    """``(max_id, first_bad)`` of a shard: its largest id (-1 if empty) and
    ``(index, value)`` of its first id ``>= vocab_size`` (None if none or
    ``vocab_size`` is None), in one chunked pass."""
    top, bad = -1, None
    for start, chunk in token_chunks(path, chunk_tokens):
        high = int(chunk.max())
        top = max(top, high)
        if bad is None and vocab_size is not None and high >= vocab_size:
            index = int(np.argmax(chunk >= vocab_size))
            bad = (start + index, int(chunk[index]))
    return top, bad


def check_token_ids(path, vocab_size, origin=None, cache=True):
    """Validate a shard (header, size) and that every id is below
    ``vocab_size``; returns its number of tokens.

    The embedding would otherwise fail with an anonymous ``IndexError``, or
    silently train on padding rows. The largest id is cached per file, so a
    shard already checked costs nothing; raises :class:`TokenRangeError`
    naming the first bad id and its position.
    """
    n_tokens = read_header(path)
    store = scan_cache() if cache else None
    top = store.get(path) if store else None
    bad = None
    if top is None or top >= vocab_size:  # unknown, or bad: find where
        top, bad = scan_tokens(path, vocab_size)
        if store:
            store.put(path, top)
    if bad is not None:
        raise TokenRangeError(path, bad[0], bad[1], vocab_size, origin)
    return n_tokens
