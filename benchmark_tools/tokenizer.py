"""Turn text into token shards: ``python -m benchmark_tools.tokenizer``.

Inputs are local ``.txt``, ``.jsonl`` and ``.parquet`` files (or folders of
them), and/or the parquet files of a Hugging Face dataset fetched with
``huggingface_hub`` (``--hf-dataset``). Every document is encoded with a
tiktoken encoding (GPT-2 by default, ``encode_ordinary``: special-token text
inside a document is encoded as plain text) and prefixed by ``<|endoftext|>``,
then the documents are concatenated, in input order, into shards of
``--shard-tokens`` tokens in the llm.c / modded-nanogpt format:
``{prefix}_val_000000.bin`` (then ``_000001`` ...) and
``{prefix}_train_000001.bin`` ... As in llm.c, a document that does not fit
in the rest of a shard continues at the start of the next one, so every shard
but the last of each split holds exactly ``--shard-tokens`` tokens.

Documents:

- ``.txt``: the whole file is one document (``--txt-mode file``), or each
  non-blank line (``line``), or each blank-line-separated block
  (``paragraph``).
- ``.jsonl``: one JSON object per line, the document is its ``--text-column``
  field (default ``text``); blank lines are ignored.
- ``.parquet``: the ``--text-column`` column, read in batches.

Malformed input is skipped and counted, never silently: empty files, lines
that are not valid JSON, bytes that are not valid UTF-8 (the whole ``.txt``
file, or the ``.jsonl`` line), records without a string in the text field,
empty documents. The counts and the first locations are printed at the end
and stored in the manifest; ``--strict`` makes any of them an error. A parquet
file without the text column, or not a parquet file, is always an error.

Validation split: ``--val-fraction F`` sends each document to validation when
a hash of its text falls below F (stable whatever the order or number of
workers; identical documents always land in the same split), or
``--val-tokens N`` takes the first documents until they hold at least N tokens
(the FineWeb convention: validation is the beginning of the stream).
Documents are never split between validation and training.

Deterministic: the same inputs and options give byte-identical shards
whatever ``--workers``. Each shard is written to a temporary name and renamed,
and ``{prefix}_tokenize.json`` records the command, the options, the inputs
(path, size, modification time) and the shards done after each one, so an
interrupted run (or a full disk: a clear error, exit 2) leaves no partial
file and running the same command again resumes after the last complete
shard (without re-encoding the documents it holds). Until the run completes
the manifest says ``"complete": false`` and the ``local_shards`` dataset
refuses the folder. A run with
other inputs or options refuses to touch the folder's shards unless
``--overwrite`` is given, which deletes them first.

Examples::

    python -m benchmark_tools.tokenizer notes/ --out data/my_corpus --prefix my
    python -m benchmark_tools.tokenizer --hf-dataset HuggingFaceFW/fineweb-edu \\
        --hf-files "sample/10BT/*.parquet" --hf-max-files 1 \\
        --out data/fineweb_edu_sample --prefix edu --val-tokens 10485760
"""

import argparse
import errno
import fnmatch
import hashlib
import itertools
import json
import os
import re
import shlex
import shutil
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from benchmark_utils.data.shards import (
    HEADER_BYTES,
    MAX_TOKEN_ID,
    ShardError,
    natural_key,
    read_header,
    write_shard,
)
from benchmark_utils.errors import UserError

DEFAULT_SHARD_TOKENS = 100_000_000
TEXT_SUFFIXES = {
    ".txt": "txt",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}
TASK_BYTES = 1 << 20  # text per task sent to a worker
TASK_DOCS = 2048
MAX_EXAMPLES = 5
FORMAT_VERSION = 1


class TokenizeError(UserError, ValueError):
    """Input or output that the tokenizer cannot use."""


@dataclass
class Stats:
    """What the readers saw; ``examples`` names the first skipped items."""

    files: int = 0
    documents: int = 0
    empty_files: int = 0
    invalid_json: int = 0
    invalid_utf8: int = 0
    missing_text: int = 0
    empty_documents: int = 0
    examples: list = field(default_factory=list)

    SKIPS = (
        "empty_files",
        "invalid_json",
        "invalid_utf8",
        "missing_text",
        "empty_documents",
    )

    def skip(self, kind, where, strict):
        if strict:
            raise TokenizeError(f"{where}: {kind.replace('_', ' ')} (--strict)")
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"{where}: {kind.replace('_', ' ')}")

    def skipped(self):
        return {k: getattr(self, k) for k in self.SKIPS if getattr(self, k)}


# -- inputs -------------------------------------------------------------------


def expand_inputs(inputs):
    """Files to read, in order: files as given, folders' supported files
    recursively in natural order."""
    files = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            found = [
                p for p in path.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES
            ]
            files.extend(sorted(found, key=natural_key))
        elif path.is_file():
            if path.suffix not in TEXT_SUFFIXES:
                raise TokenizeError(
                    f"{path}: unsupported input type {path.suffix!r} "
                    f"(supported: {', '.join(sorted(TEXT_SUFFIXES))})"
                )
            files.append(path)
        else:
            raise TokenizeError(f"{path}: no such file or folder")
    return files


def fetch_hf_parquet(
    repo_id, pattern="*.parquet", max_files=None, revision=None, local_dir=None
):
    """Download the parquet files of hub dataset ``repo_id`` matching
    ``pattern`` (sorted, the first ``max_files``); returns local paths."""
    import huggingface_hub

    try:
        names = huggingface_hub.list_repo_files(
            repo_id, repo_type="dataset", revision=revision
        )
    except Exception as error:
        raise TokenizeError(
            f"cannot list the files of the hub dataset {repo_id} "
            f"({type(error).__name__}: {error}). Run this on a machine with "
            "internet access, or download the parquet files and pass them as "
            "local inputs."
        ) from error
    names = sorted(fnmatch.filter(names, pattern), key=natural_key)
    if max_files is not None:
        names = names[:max_files]
    if not names:
        raise TokenizeError(f"no file of {repo_id} matches {pattern!r}")
    paths = []
    for name in names:
        try:
            path = huggingface_hub.hf_hub_download(
                repo_id,
                name,
                repo_type="dataset",
                revision=revision,
                local_dir=local_dir,
            )
        except Exception as error:
            raise TokenizeError(
                f"cannot download {name} from {repo_id} "
                f"({type(error).__name__}: {error})"
            ) from error
        paths.append(Path(path))
    return paths


def _read_txt(path, mode, stats, strict):
    data = path.read_bytes()
    if not data:
        stats.skip("empty_files", path, strict)
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        stats.skip("invalid_utf8", f"{path} (byte {error.start})", strict)
        return
    if mode == "file":
        yield text, str(path)
    elif mode == "line":  # blank lines separate nothing: not documents
        lines = enumerate(text.splitlines(), 1)
        yield from ((line, f"{path}:{i}") for i, line in lines if line.strip())
    else:  # paragraph
        blocks = (b.strip("\r\n") for b in re.split(r"\n[ \t\r]*\n", text))
        yield from ((block, str(path)) for block in blocks if block.strip())


def _read_jsonl(path, column, stats, strict):
    if path.stat().st_size == 0:
        stats.skip("empty_files", path, strict)
        return
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            where = f"{path}:{number}"
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                stats.skip("invalid_utf8", where, strict)
                continue
            except json.JSONDecodeError:
                stats.skip("invalid_json", where, strict)
                continue
            text = record.get(column) if isinstance(record, dict) else None
            if not isinstance(text, str):
                stats.skip("missing_text", where, strict)
                continue
            try:
                text.encode("utf-8")  # "\ud800" escapes decode to lone surrogates
            except UnicodeEncodeError:
                stats.skip("invalid_utf8", where, strict)
                continue
            yield text, where


def _read_parquet(path, column, stats, strict):
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.stat().st_size == 0:
        stats.skip("empty_files", path, strict)
        return
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        raise TokenizeError(f"{path}: not a readable parquet file ({error})") from error
    names = parquet.schema_arrow.names
    if column not in names:
        raise TokenizeError(
            f"{path}: no column {column!r}; its columns are {names}. "
            "Choose the text column with --text-column."
        )
    kind = parquet.schema_arrow.field(column).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise TokenizeError(f"{path}: column {column!r} holds {kind}, not text")
    row = 0
    for batch in parquet.iter_batches(batch_size=1024, columns=[column]):
        for text in batch.column(0).to_pylist():
            row += 1
            if text is None:
                stats.skip("missing_text", f"{path}:row {row}", strict)
            else:
                yield text, f"{path}:row {row}"


def iter_documents(files, stats, text_column="text", txt_mode="file", strict=False):
    """The documents of ``files``, in order (malformed items and empty
    documents skipped and counted in ``stats``)."""
    for path in files:
        stats.files += 1
        kind = TEXT_SUFFIXES[path.suffix]
        if kind == "txt":
            docs = _read_txt(path, txt_mode, stats, strict)
        else:
            read = _read_jsonl if kind == "jsonl" else _read_parquet
            docs = read(path, text_column, stats, strict)
        for text, where in docs:
            if not text.strip():
                stats.skip("empty_documents", where, strict)
                continue
            stats.documents += 1
            yield text


# -- encoding -----------------------------------------------------------------


def load_encoding(encoding):
    """A tiktoken encoding (a name such as ``gpt2``, or an Encoding)."""
    import tiktoken

    if isinstance(encoding, str):
        try:
            encoding = tiktoken.get_encoding(encoding)
        except Exception as error:
            raise TokenizeError(
                f"cannot load the tiktoken encoding {encoding!r} "
                f"({type(error).__name__}: {error}). Offline, set "
                "TIKTOKEN_CACHE_DIR to a folder holding its cached files."
            ) from error
    if encoding.max_token_value > MAX_TOKEN_ID:
        raise TokenizeError(
            f"encoding {encoding.name} has token ids up to "
            f"{encoding.max_token_value}: they do not fit the uint16 shards"
        )
    try:
        encoding.eot_token  # noqa: B018
    except KeyError as error:
        raise TokenizeError(
            f"encoding {encoding.name} has no <|endoftext|> token to separate documents"
        ) from error
    return encoding


def encode_document(encoding, text):
    """``<|endoftext|>`` then the tokens of ``text`` (uint16)."""
    ids = encoding.encode_ordinary(text)
    out = np.empty(len(ids) + 1, dtype=np.uint16)
    out[0] = encoding.eot_token
    out[1:] = ids
    return out


_WORKER_ENCODING = None


def _init_worker(encoding):
    global _WORKER_ENCODING
    _WORKER_ENCODING = encoding


def _encode_items(encoding, items):
    """Encode the items of a task: ``(split, k, drop, text, tokens)`` with
    ``tokens`` None unless already encoded."""
    out = []
    for split, k, drop, text, tokens in items:
        if tokens is None:
            tokens = encode_document(encoding, text)
        out.append((split, k, drop, tokens[drop:]))
    return out


def _encode_task(items):
    return _encode_items(_WORKER_ENCODING, items)


class Splitter:
    """Sends each document to ``val`` or ``train`` (see the module doc)."""

    def __init__(self, encoding, val_fraction=0.0, val_tokens=None):
        self.encoding = encoding
        self.val_fraction = val_fraction
        self.val_tokens = int(val_tokens or 0)
        self.val_count = 0

    def route(self, text):
        """``(split, tokens)``; tokens only when they had to be computed."""
        if self.val_tokens:
            if self.val_count < self.val_tokens:
                tokens = encode_document(self.encoding, text)
                self.val_count += len(tokens)
                return "val", tokens
            return "train", None
        if self.val_fraction:
            digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
            if int.from_bytes(digest, "little") < self.val_fraction * 2.0**64:
                return "val", None
        return "train", None


# -- output -------------------------------------------------------------------


def shard_name(prefix, split, index):
    return f"{prefix}_{split}_{index:06d}.bin"


def manifest_path(out_dir, prefix):
    return Path(out_dir) / f"{prefix}_tokenize.json"


def write_json(path, data):
    """Write ``data`` atomically: the previous manifest stays whole if this
    write fails (disk full), and no temporary file is left."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_error(path, error, needed=None, done=None):
    """A :class:`TokenizeError` for an output that could not be written (disk
    full, read-only folder...): which file, the space needed and free, and
    that the complete shards and the manifest are intact."""
    path = Path(path)
    if getattr(error, "errno", None) in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        try:
            free = f"{shutil.disk_usage(path.parent).free:,} bytes free"
        except OSError:
            free = "free space unknown"
        need = f"{needed:,} bytes needed, " if needed else ""
        what = f"no space left on the device while writing {path} ({need}{free})"
        fix = "free some space or choose another --out"
    else:
        what = f"cannot write {path} ({type(error).__name__}: {error})"
        fix = "check the output folder's permissions and space, or choose another --out"
    kept = (
        f"the {done} complete shard(s) and the manifest are intact"
        if done is not None
        else "the shards and the manifest already there are intact"
    )
    return TokenizeError(
        f"{what}. No partial file was left and {kept}: {fix}, then run the "
        "same command again to resume."
    )


def _own_files(out_dir, prefix):
    """Shards (and leftover temporary files) this tokenizer writes for ``prefix``."""
    pattern = re.compile(rf"^{re.escape(prefix)}_(val|train)_\d{{6}}\.bin(\.tmp\d+)?$")
    return [p for p in Path(out_dir).glob(f"{prefix}_*") if pattern.match(p.name)]


class SplitWriter:
    """Fills shards of one split, in order, and records after each shard how
    many of the split's documents are complete (``docs_done``) and how many
    tokens of the next one it already holds (``offset``)."""

    def __init__(self, out_dir, prefix, split, shard_tokens, splits, on_shard):
        self.out_dir, self.prefix, self.split = Path(out_dir), prefix, split
        self.shard_tokens = shard_tokens
        self.splits = splits  # split -> {"shards": [...], "docs_done", "offset"}
        self.state = splits[split]
        self.on_shard = on_shard
        self.buf = None
        self.fill = 0
        self.docs_seen = self.state["docs_done"]
        self.first_index = 0 if split == "val" else 1

    def add(self, tokens, k, start_in_doc, bos):
        if self.buf is None:
            self.buf = np.empty(self.shard_tokens, dtype=np.uint16)
        pos = 0
        while pos < len(tokens):
            take = min(len(tokens) - pos, self.shard_tokens - self.fill)
            self.buf[self.fill : self.fill + take] = tokens[pos : pos + take]
            self.fill += take
            pos += take
            if self.fill == self.shard_tokens:
                if pos == len(tokens):
                    self._flush(k + 1, 0, bos)
                else:
                    self._flush(k, start_in_doc + pos, bos)
        self.docs_seen = k + 1

    def finish(self, bos):
        if self.fill:
            self._flush(self.docs_seen, 0, bos)

    def _flush(self, docs_done, offset, bos):
        tokens = self.buf[: self.fill]
        name = shard_name(
            self.prefix, self.split, self.first_index + len(self.state["shards"])
        )
        try:
            write_shard(self.out_dir / name, tokens)
        except OSError as error:  # disk full: write_shard left no file
            raise write_error(
                self.out_dir / name,
                error,
                needed=HEADER_BYTES + 2 * len(tokens),
                done=sum(len(v["shards"]) for v in self.splits.values()),
            ) from None
        self.state["shards"].append(
            {
                "file": name,
                "n_tokens": int(self.fill),
                "n_documents": int(np.count_nonzero(tokens == bos)),
            }
        )
        self.state["docs_done"], self.state["offset"] = int(docs_done), int(offset)
        self.fill = 0
        self.on_shard(self.split, name)


def _fingerprint(files, encoding, options):
    inputs = []
    for path in files:
        st = path.stat()
        inputs.append([str(path.resolve()), st.st_size, st.st_mtime_ns])
    return {
        "format": FORMAT_VERSION,
        "inputs": inputs,
        "encoding": encoding.name,
        "n_vocab": encoding.n_vocab,
        **options,
    }


def _empty_state():
    return {s: {"shards": [], "docs_done": 0, "offset": 0} for s in ("val", "train")}


def _recorded_ok(out_dir, splits):
    for split in splits.values():
        for shard in split["shards"]:
            try:
                if read_header(Path(out_dir) / shard["file"]) != shard["n_tokens"]:
                    return False
            except ShardError:
                return False
    return True


def _prepare_output(out_dir, prefix, fingerprint, overwrite, log):
    """The manifest to continue from (same inputs and options, shards
    intact), or None after deleting the prefix's old shards."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = manifest_path(out_dir, prefix)
    for leftover in [p for p in _own_files(out_dir, prefix) if ".tmp" in p.suffix]:
        leftover.unlink()
    manifest = None
    if path.exists():
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError):
            manifest = None
    existing = _own_files(out_dir, prefix)
    same = manifest is not None and manifest.get("fingerprint") == fingerprint
    if same and not overwrite and _recorded_ok(out_dir, manifest["splits"]):
        recorded = {
            s["file"] for sp in manifest["splits"].values() for s in sp["shards"]
        }
        for p in existing:
            if p.name not in recorded:  # written after the last manifest update
                p.unlink()
        return manifest
    if existing and not overwrite and not same:
        raise TokenizeError(
            f"{out_dir} already holds '{prefix}' shards from another tokenization "
            "(other inputs or options, or no manifest): pass --overwrite to "
            "replace them, or choose another --out or --prefix"
        )
    if existing:
        log(f"removing {len(existing)} old '{prefix}' shard(s) from {out_dir}")
    for p in existing:
        p.unlink()
    path.unlink(missing_ok=True)
    return None


# -- driver -------------------------------------------------------------------


def tokenize_corpus(
    inputs,
    out_dir,
    prefix="corpus",
    encoding="gpt2",
    shard_tokens=DEFAULT_SHARD_TOKENS,
    val_fraction=None,
    val_tokens=None,
    workers=1,
    text_column="text",
    txt_mode="file",
    max_docs=None,
    strict=False,
    overwrite=False,
    progress=True,
    log=None,
    command=None,
):
    """Tokenize ``inputs`` into shards in ``out_dir``; returns the manifest.

    ``val_fraction=None`` means 0.05, or 0 when ``val_tokens`` is given.
    ``command``: the command line, recorded in the manifest so that a reader
    of an unfinished folder can say how to resume it.
    """
    if val_fraction is None:
        val_fraction = 0.0 if val_tokens else 0.05
    val_fraction = float(val_fraction)
    log = log or (lambda message: print(message, file=sys.stderr))
    if txt_mode not in ("file", "line", "paragraph"):
        raise TokenizeError(
            f"txt_mode must be file, line or paragraph, not {txt_mode!r}"
        )
    if shard_tokens < 1:
        raise TokenizeError("shard_tokens must be positive")
    if val_tokens and val_fraction:
        raise TokenizeError("give either val_fraction or val_tokens, not both")
    if not 0.0 <= val_fraction < 1.0:
        raise TokenizeError("val_fraction must lie in [0, 1)")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*", prefix):
        raise TokenizeError(f"prefix {prefix!r}: use letters, digits, '.' and '-'")
    encoding = load_encoding(encoding)
    bos = int(encoding.eot_token)
    files = expand_inputs(inputs)
    if not files:
        raise TokenizeError("no input file (.txt, .jsonl, .ndjson or .parquet) found")
    out_dir = Path(out_dir)
    options = {
        "shard_tokens": int(shard_tokens),
        "val_fraction": val_fraction,
        "val_tokens": int(val_tokens or 0),
        "text_column": text_column,
        "txt_mode": txt_mode,
        "max_docs": max_docs,
    }
    fingerprint = _fingerprint(files, encoding, options)
    try:
        manifest = _prepare_output(out_dir, prefix, fingerprint, overwrite, log)
    except OSError as error:  # e.g. a read-only or missing parent folder
        raise write_error(out_dir, error) from None
    if manifest is not None and manifest.get("complete"):
        log(f"{manifest_path(out_dir, prefix)}: already complete, nothing to do")
        return manifest
    splits = manifest["splits"] if manifest else _empty_state()
    resumed = {s: (v["docs_done"], v["offset"]) for s, v in splits.items()}
    if manifest:
        done = sum(len(v["shards"]) for v in splits.values())
        log(f"resuming: {done} shard(s) already written in {out_dir}")
    manifest = {
        "fingerprint": fingerprint,
        "complete": False,
        "encoding": encoding.name,
        "n_vocab": encoding.n_vocab,
        "bos_token": bos,
        "splits": splits,
    }
    if command:
        manifest.update(command=command, cwd=os.getcwd())
    mpath = manifest_path(out_dir, prefix)

    def save_manifest():
        try:
            write_json(mpath, manifest)
        except OSError as error:  # the manifest on disk is the previous one
            raise write_error(mpath, error) from None

    save_manifest()

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(
            unit="tok", unit_scale=True, desc=f"tokenizing {prefix}", file=sys.stderr
        )

    def on_shard(split, name):
        save_manifest()
        if bar is not None:
            bar.set_postfix_str(name)

    writers = {
        s: SplitWriter(out_dir, prefix, s, shard_tokens, splits, on_shard)
        for s in ("val", "train")
    }
    written = {"val": 0, "train": 0}

    def write(results):
        for split, k, drop, tokens in results:
            writers[split].add(tokens, k, drop, bos)
            written[split] += len(tokens)
            if bar is not None:
                bar.update(len(tokens))

    stats = Stats()
    splitter = Splitter(encoding, val_fraction, val_tokens)
    counters = {"val": 0, "train": 0}
    started = time.perf_counter()
    pool = None
    if workers > 1:
        import multiprocessing

        pool = multiprocessing.get_context().Pool(
            workers, initializer=_init_worker, initargs=(encoding,)
        )
    pending = deque()
    task, task_bytes = [], 0

    def submit():
        nonlocal task, task_bytes
        if not task:
            return
        if pool is None:
            write(_encode_items(encoding, task))
        else:
            pending.append(pool.apply_async(_encode_task, (task,)))
            while len(pending) > 2 * workers:
                write(pending.popleft().get())
        task, task_bytes = [], 0

    try:
        docs = iter_documents(files, stats, text_column, txt_mode, strict)
        for text in itertools.islice(docs, max_docs):
            split, tokens = splitter.route(text)
            k = counters[split]
            counters[split] += 1
            docs_done, offset = resumed[split]
            if k < docs_done:
                continue  # already in a complete shard
            drop = offset if k == docs_done else 0
            task.append((split, k, drop, None if tokens is not None else text, tokens))
            task_bytes += len(text)
            if task_bytes >= TASK_BYTES or len(task) >= TASK_DOCS:
                submit()
        submit()
        while pending:
            write(pending.popleft().get())
        for split in ("val", "train"):
            writers[split].finish(bos)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - started

    if stats.documents == 0:
        raise TokenizeError(
            f"no document found in {len(files)} input file(s); skipped: "
            f"{stats.skipped() or 'nothing'}"
        )
    manifest["complete"] = True
    manifest["stats"] = asdict(stats)
    manifest["documents"] = dict(counters)
    manifest["tokens"] = {
        s: sum(x["n_tokens"] for x in splits[s]["shards"]) for s in ("val", "train")
    }
    manifest["seconds"] = round(elapsed, 3)
    manifest["tokens_per_second"] = round(sum(written.values()) / max(elapsed, 1e-9))
    save_manifest()
    if not splits["val"]["shards"] and (val_fraction or val_tokens):
        log(
            "warning: the validation split is empty: raise --val-fraction or "
            "use --val-tokens"
        )
    if not splits["train"]["shards"]:
        log(
            "warning: the training split is empty: lower --val-tokens or --val-fraction"
        )
    return manifest


def summary(manifest, out_dir, prefix):
    """Human-readable lines about a completed tokenization."""
    lines = []
    for split in ("val", "train"):
        shards = manifest["splits"][split]["shards"]
        lines.append(
            f"{split}: {manifest['documents'][split]:,} documents, "
            f"{manifest['tokens'][split]:,} tokens in {len(shards)} shard(s)"
            + (f" ({shards[0]['file']} ... {shards[-1]['file']})" if shards else "")
        )
    stats = manifest["stats"]
    skipped = {k: stats[k] for k in Stats.SKIPS if stats[k]}
    lines.append(
        f"read {stats['files']} file(s), {stats['documents']:,} documents; skipped: "
        + (
            ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in skipped.items())
            or "none"
        )
    )
    lines.extend(f"  e.g. {example}" for example in stats["examples"])
    lines.append(
        f"{manifest['tokens_per_second']:,} tokens/s over {manifest['seconds']} s; "
        f"manifest: {manifest_path(out_dir, prefix)}"
    )
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmark_tools.tokenizer",
        description="Tokenize text (.txt, .jsonl, .parquet, or a Hugging Face "
        "dataset's parquet files) into GPT-2 token shards.",
    )
    parser.add_argument(
        "inputs", nargs="*", help="files or folders of .txt/.jsonl/.parquet"
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--prefix", default="corpus", help="shard name prefix: PREFIX_train_000001.bin"
    )
    hub = parser.add_argument_group("Hugging Face dataset input")
    hub.add_argument(
        "--hf-dataset", help="dataset repository, e.g. HuggingFaceFW/fineweb-edu"
    )
    hub.add_argument(
        "--hf-files",
        default="*.parquet",
        help="glob of its files, e.g. 'sample/10BT/*.parquet'",
    )
    hub.add_argument(
        "--hf-max-files", type=int, help="take only the first N matching files"
    )
    hub.add_argument("--hf-revision", help="branch, tag or commit")
    hub.add_argument(
        "--hf-dir", type=Path, help="download folder (default: the Hugging Face cache)"
    )
    parser.add_argument(
        "--text-column", default="text", help="jsonl field / parquet column"
    )
    parser.add_argument(
        "--txt-mode",
        choices=("file", "line", "paragraph"),
        default="file",
        help="what a .txt document is (default: the whole file)",
    )
    parser.add_argument(
        "--encoding", default="gpt2", help="tiktoken encoding (default gpt2)"
    )
    parser.add_argument(
        "--shard-tokens",
        type=int,
        default=DEFAULT_SHARD_TOKENS,
        help=f"tokens per shard (default {DEFAULT_SHARD_TOKENS:,})",
    )
    val = parser.add_mutually_exclusive_group()
    val.add_argument(
        "--val-fraction",
        type=float,
        default=None,
        help="share of documents (by text hash) for validation (default 0.05)",
    )
    val.add_argument(
        "--val-tokens",
        type=int,
        help="the first documents, up to N tokens, for validation",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=max(1, min(8, os.cpu_count() or 1)),
        help="encoding processes (default: CPU count, at most 8)",
    )
    parser.add_argument("--max-docs", type=int, help="stop after N documents")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="fail on malformed input instead of skipping",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the prefix's shards already there",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if not args.inputs and not args.hf_dataset:
        parser.error("give input files/folders or --hf-dataset")
    return args


def main(argv=None):
    raw = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    command = shlex.join(["python", "-m", "benchmark_tools.tokenizer", *raw])
    try:
        inputs = list(args.inputs)
        if args.hf_dataset:
            inputs += fetch_hf_parquet(
                args.hf_dataset,
                args.hf_files,
                args.hf_max_files,
                args.hf_revision,
                args.hf_dir,
            )
        manifest = tokenize_corpus(
            inputs,
            args.out,
            prefix=args.prefix,
            encoding=args.encoding,
            shard_tokens=args.shard_tokens,
            val_fraction=args.val_fraction,
            val_tokens=args.val_tokens,
            workers=args.workers,
            text_column=args.text_column,
            txt_mode=args.txt_mode,
            max_docs=args.max_docs,
            strict=args.strict,
            overwrite=args.overwrite,
            progress=not args.no_progress,
            command=command,
        )
    except (TokenizeError, ShardError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if "stats" in manifest:
        print(summary(manifest, args.out, args.prefix))
    return 0


if __name__ == "__main__":
    sys.exit(main())
