"""Token shards in the llm.c / modded-nanogpt format: a 1024-byte header of
256 little-endian int32 (magic 20240520, version 1, number of tokens, zeros),
then that many little-endian uint16 token ids. Shards are read through
``numpy.memmap`` or in chunks: memory never grows with their number or size.
"""

import contextlib
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
    """Sort key: numbers compare as numbers (``_2`` before ``_10``)."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(path))]


class TokenRangeError(ShardError):
    """A token id outside the vocabulary (else an anonymous ``IndexError`` in
    the embedding, or silent training on padding rows)."""

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
    """Write ``tokens`` as a shard, through a temporary file renamed when
    complete: an interrupted write never leaves a file that passes as a shard."""
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
        tmp.unlink(missing_ok=True)
    return path


def check_regular_file(path):
    """``path`` if it is a regular file, else a :class:`ShardError` that says
    what it is (missing, a directory, a dangling symbolic link...)."""
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
    problem = "is not a regular file" if path.exists() else "file not found"
    raise ShardError(path, problem, RESTORE)


def file_stamp(path):
    """``[size, mtime_ns, inode]``: changes when a file is rewritten."""
    st = Path(path).stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def read_header(path):
    """Validate a shard (header and size) and return its number of tokens."""
    path = check_regular_file(path)
    size = path.stat().st_size
    if size < HEADER_BYTES:
        problem = f"truncated header ({size} bytes, expected at least {HEADER_BYTES})"
        raise ShardError(path, problem, REGENERATE)
    header = np.fromfile(path, dtype="<i4", count=HEADER_INTS)
    n_tokens = int(header[2])
    expected = HEADER_BYTES + 2 * n_tokens
    if header[0] != MAGIC:
        problem = (
            f"wrong magic number {header[0]} (expected {MAGIC}): not a token shard"
        )
    elif header[1] != VERSION:
        problem = f"unsupported version {header[1]} (expected {VERSION})"
    elif n_tokens < 0:
        problem = f"negative token count {n_tokens} in header"
    elif size != expected:
        problem = (
            f"{'truncated' if size < expected else 'too large'}: header announces "
            f"{n_tokens} tokens ({expected} bytes) but the file has {size} bytes"
        )
    else:
        return n_tokens
    raise ShardError(path, problem, REGENERATE)


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


def array_chunks(tokens, chunk_tokens):
    """``(start, chunk)`` over ``tokens`` (a memory map), ``chunk_tokens`` at
    a time."""
    for start in range(0, len(tokens), chunk_tokens):
        yield start, np.asarray(tokens[start : start + chunk_tokens])


def first_out_of_range(tokens, vocab_size, chunk_tokens=SCAN_CHUNK_TOKENS):
    """``(index, value)`` of the first id ``>= vocab_size`` in ``tokens``, or
    None."""
    for start, chunk in array_chunks(tokens, chunk_tokens):
        if chunk.size and int(chunk.max()) >= vocab_size:
            index = int(np.argmax(chunk >= vocab_size))
            return start + index, int(chunk[index])
    return None


def token_chunks(path, chunk_tokens=SCAN_CHUNK_TOKENS):
    """``(start, tokens)`` over a validated shard, read ``chunk_tokens`` at a
    time: memory stays at one chunk (a memory map would keep every page it
    touched resident)."""
    n_tokens = read_header(path)
    with open(path, "rb") as f:
        f.seek(HEADER_BYTES)
        for start in range(0, n_tokens, chunk_tokens):
            count = min(chunk_tokens, n_tokens - start)
            chunk = np.fromfile(f, dtype=TOKEN_DTYPE, count=count)
            if len(chunk) < count:
                raise ShardError(
                    path, f"truncated while reading token {start:,}", REGENERATE
                )
            yield start, chunk


def scan_tokens(path, vocab_size=None, chunk_tokens=SCAN_CHUNK_TOKENS):
    """``(max_id, first_bad)`` of a shard, in one chunked pass: its largest id
    (-1 if empty) and ``(index, value)`` of its first id ``>= vocab_size``
    (None if none or ``vocab_size`` is None)."""
    top, bad = -1, None
    for start, chunk in token_chunks(path, chunk_tokens):
        high = int(chunk.max())
        top = max(top, high)
        if bad is None and vocab_size is not None and high >= vocab_size:
            index, value = first_out_of_range(chunk, vocab_size, chunk_tokens)
            bad = (start + index, value)
    return top, bad


def cache_dir():
    """Where facts about files are cached: out of the (maybe read-only) shard
    folders."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "nanogpt_bench"


class ScanCache:
    """The largest token id of each scanned shard, keyed by absolute path,
    size and mtime: a shard is scanned once, not at every run. A missing,
    corrupt or unwritable cache only costs a new scan."""

    def __init__(self, path=None):
        self.path = Path(path) if path else cache_dir() / "token_ranges.json"

    @staticmethod
    def key(path):
        path = Path(path).resolve()
        return str(path), file_stamp(path)[:2]

    def entries(self):
        try:
            entries = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return entries if isinstance(entries, dict) else {}

    def get(self, path):
        """The cached largest id of ``path``, or None."""
        name, stamp = self.key(path)
        entry = self.entries().get(name)
        if isinstance(entry, list) and len(entry) == 3 and entry[:2] == stamp:
            return entry[2] if isinstance(entry[2], int) else None
        return None

    def put(self, path, max_id):
        """Record the largest id of ``path`` (merged with what other
        processes wrote); skipped if the cache cannot be written."""
        name, stamp = self.key(path)
        entries = self.entries()
        entries.pop(name, None)
        entries[name] = [*stamp, int(max_id)]
        while len(entries) > CACHE_MAX_ENTRIES:  # the oldest go first
            entries.pop(next(iter(entries)))
        tmp = self.path.with_name(f"{self.path.name}.tmp{os.getpid()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(entries))
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)


def check_token_ids(path, vocab_size, origin=None, cache=True):
    """Validate a shard (header, size, every id below ``vocab_size``) and
    return its number of tokens; :class:`TokenRangeError` names the first bad
    id. The largest id is cached per file: a checked shard costs nothing."""
    n_tokens = read_header(path)
    try:
        store = ScanCache() if cache else None
    except RuntimeError:  # no home folder: no cache
        store = None
    top = store.get(path) if store else None
    bad = None
    if top is None or top >= vocab_size:  # unknown, or bad: find where
        top, bad = scan_tokens(path, vocab_size)
        if store:
            store.put(path, top)
    if bad is not None:
        raise TokenRangeError(path, bad[0], bad[1], vocab_size, origin)
    return n_tokens
