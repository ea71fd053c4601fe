"""Turn text into token shards: ``python -m benchmark_tools.tokenizer``.

Local ``.txt`` / ``.jsonl`` / ``.parquet`` files (or folders of them) and
the parquet files of a Hugging Face dataset become documents, encoded with
tiktoken's ``encode_ordinary`` (special-token text is plain text), each
preceded by ``<|endoftext|>``, and written in input order into llm.c shards
of ``--shard-tokens`` tokens (a document may continue in the next shard, as
in llm.c). Malformed input is skipped and counted, or an error with
``--strict``. The shards are byte-identical whatever ``--workers``; each is
written atomically and ``{prefix}_tokenize.json`` records the inputs,
options and shards done (``"complete": false`` until the end, which the
``local_shards`` dataset refuses), so the same command again resumes. The
README's "Tokenizing your own corpus" lists every option.
"""

import argparse
import errno
import fnmatch
import hashlib
import itertools
import json
import multiprocessing
import os
import re
import shlex
import shutil
import sys
import time
from collections import deque
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
SUFFIXES = (".txt", ".jsonl", ".ndjson", ".parquet")
TASK_BYTES = 1 << 20  # text per task sent to a worker
TASK_DOCS = 2048
MAX_EXAMPLES = 5
FORMAT_VERSION = 1
SPLITS = ("val", "train")
TXT_MODES = ("file", "line", "paragraph")
SKIPS = "empty_files invalid_json invalid_utf8 missing_text empty_documents".split()


class TokenizeError(UserError, ValueError):
    """Input or output that the tokenizer cannot use."""


# -- inputs -------------------------------------------------------------------


def expand_inputs(inputs):
    """Files as given, and the supported files of folders (recursively, in
    natural order)."""
    files = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            found = [p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES]
            files.extend(sorted(found, key=natural_key))
        elif not path.is_file():
            raise TokenizeError(f"{path}: no such file or folder")
        elif path.suffix not in SUFFIXES:
            raise TokenizeError(
                f"{path}: unsupported input type {path.suffix!r} "
                f"(supported: {', '.join(sorted(SUFFIXES))})"
            )
        else:
            files.append(path)
    return files


def fetch_hf_parquet(
    repo_id, pattern="*.parquet", max_files=None, revision=None, local_dir=None
):
    """Download the first ``max_files`` files of hub dataset ``repo_id``
    matching ``pattern`` (natural order); returns their local paths."""
    import huggingface_hub

    hub = dict(repo_type="dataset", revision=revision)
    try:
        names = huggingface_hub.list_repo_files(repo_id, **hub)
    except Exception as error:
        raise TokenizeError(
            f"cannot list the files of the hub dataset {repo_id} "
            f"({type(error).__name__}: {error}). Run this on a machine with "
            "internet access, or download the parquet files and pass them as "
            "local inputs."
        ) from error
    names = sorted(fnmatch.filter(names, pattern), key=natural_key)[:max_files]
    if not names:
        raise TokenizeError(f"no file of {repo_id} matches {pattern!r}")
    paths = []
    for name in names:
        try:
            path = huggingface_hub.hf_hub_download(
                repo_id, name, local_dir=local_dir, **hub
            )
        except Exception as error:
            raise TokenizeError(
                f"cannot download {name} from {repo_id} "
                f"({type(error).__name__}: {error})"
            ) from error
        paths.append(Path(path))
    return paths


# Readers yield ``(where, text, problem)``: ``problem`` names a skip (one of
# SKIPS) that the text itself does not show.


def _read_txt(path, mode):
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        yield f"{path} (byte {error.start})", None, "invalid_utf8"
        return
    if mode == "file":
        yield str(path), text, None
    elif mode == "line":  # blank lines separate documents, they are not ones
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                yield f"{path}:{number}", line, None
    else:
        for block in re.split(r"\n[ \t\r]*\n", text):
            if block.strip():
                yield str(path), block.strip("\r\n"), None


def _read_jsonl(path, column):
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                yield where, None, "invalid_utf8"
            except json.JSONDecodeError:
                yield where, None, "invalid_json"
            else:
                text = record.get(column) if isinstance(record, dict) else None
                yield where, text, None


def _read_parquet(path, column):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        raise TokenizeError(f"{path}: not a readable parquet file ({error})") from error
    schema = parquet.schema_arrow
    if column not in schema.names:
        raise TokenizeError(
            f"{path}: no column {column!r}; its columns are {schema.names}. "
            "Choose the text column with --text-column."
        )
    kind = schema.field(column).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise TokenizeError(f"{path}: column {column!r} holds {kind}, not text")
    batches = parquet.iter_batches(batch_size=1024, columns=[column])
    texts = itertools.chain.from_iterable(b.column(0).to_pylist() for b in batches)
    for row, text in enumerate(texts, 1):
        yield f"{path}:row {row}", text, None


def _text_problem(text):
    if not isinstance(text, str):
        return "missing_text"
    try:
        text.encode("utf-8")  # a JSON "\ud800" escape decodes to a lone surrogate
    except UnicodeEncodeError:
        return "invalid_utf8"
    return None if text.strip() else "empty_documents"


def iter_documents(files, stats, text_column="text", txt_mode="file", strict=False):
    """The documents of ``files`` in order; malformed items are counted in
    ``stats`` (the first few named), or an error if ``strict``."""
    for path in files:
        stats["files"] += 1
        if path.stat().st_size == 0:
            items = [(str(path), None, "empty_files")]
        elif path.suffix == ".txt":
            items = _read_txt(path, txt_mode)
        elif path.suffix == ".parquet":
            items = _read_parquet(path, text_column)
        else:
            items = _read_jsonl(path, text_column)
        for where, text, problem in items:
            problem = problem or _text_problem(text)
            if problem is None:
                stats["documents"] += 1
                yield text
                continue
            message = f"{where}: {problem.replace('_', ' ')}"
            if strict:
                raise TokenizeError(f"{message} (--strict)")
            stats[problem] += 1
            if len(stats["examples"]) < MAX_EXAMPLES:
                stats["examples"].append(message)


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
    if "<|endoftext|>" not in encoding.special_tokens_set:
        raise TokenizeError(
            f"encoding {encoding.name} has no <|endoftext|> token to separate documents"
        )
    return encoding


def encode_document(encoding, text):
    """``<|endoftext|>`` then the tokens of ``text`` (uint16)."""
    ids = encoding.encode_ordinary(text)
    out = np.empty(len(ids) + 1, dtype=np.uint16)
    out[0] = encoding.eot_token
    out[1:] = ids
    return out


_WORKER_ENCODING = None  # a pool process's encoding, set by _init_worker


def _init_worker(encoding):
    # Sent once per process: unpickling an encoding that tiktoken has not
    # registered rebuilds its BPE, which costs about as much as a task.
    global _WORKER_ENCODING
    _WORKER_ENCODING = encoding


def _encode(task, encoding=None):
    """``(split, k, drop, tokens)`` for the ``(split, k, drop, text or
    tokens)`` items of a task: document k of a split less its first ``drop``
    tokens (already in a shard)."""
    encoding = _WORKER_ENCODING if encoding is None else encoding
    out = []
    for split, k, drop, doc in task:
        tokens = encode_document(encoding, doc) if isinstance(doc, str) else doc
        out.append((split, k, drop, tokens[drop:]))
    return out


def _encoded(tasks, encoding, workers):
    """``_encode`` of each task, in order; with several workers, by a process
    pool that runs at most ``2 * workers`` tasks ahead."""
    if workers <= 1:
        for task in tasks:
            yield _encode(task, encoding)
        return
    pool = multiprocessing.get_context().Pool(
        workers, initializer=_init_worker, initargs=(encoding,)
    )
    try:
        pending = deque()
        for task in tasks:
            pending.append(pool.apply_async(_encode, (task,)))
            if len(pending) > 2 * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
    finally:
        pool.terminate()
        pool.join()


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


def _tasks(documents, splitter, resume):
    """The documents in tasks of ``(split, k, drop, text or tokens)`` items,
    less those that a resumed run has in complete shards: ``resume[split]``
    is ``(docs_done, offset)``, as recorded when the run stopped."""
    counts = dict.fromkeys(SPLITS, 0)
    task, size = [], 0
    for text in documents:
        split, tokens = splitter.route(text)
        k = counts[split]
        counts[split] += 1
        done, offset = resume[split]
        if k < done:
            continue
        task.append(
            (split, k, offset if k == done else 0, text if tokens is None else tokens)
        )
        size += len(text)
        if size >= TASK_BYTES or len(task) >= TASK_DOCS:
            yield task
            task, size = [], 0
    if task:
        yield task


# -- output -------------------------------------------------------------------


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
        tmp.unlink(missing_ok=True)


def write_error(path, error, needed=None, done=None):
    """The :class:`TokenizeError` of an output that could not be written:
    which file, the space needed and free, and that what is done is intact."""
    if getattr(error, "errno", None) in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        try:
            free = f"{shutil.disk_usage(Path(path).parent).free:,} bytes free"
        except OSError:
            free = "free space unknown"
        need = f"{needed:,} bytes needed, " if needed else ""
        what = f"no space left on the device while writing {path} ({need}{free})"
        fix = "free some space or choose another --out"
    else:
        what = f"cannot write {path} ({type(error).__name__}: {error})"
        fix = "check the output folder's permissions and space, or choose another --out"
    kept = "the shards" if done is None else f"the {done} complete shard(s)"
    return TokenizeError(
        f"{what}. No partial file was left and {kept} and the manifest are "
        f"intact: {fix}, then run the same command again to resume."
    )


def _own_files(out_dir, prefix):
    """Shards (and leftover temporary files) this tokenizer writes for ``prefix``."""
    pattern = re.compile(rf"^{re.escape(prefix)}_(val|train)_\d{{6}}\.bin(\.tmp\d+)?$")
    return [p for p in Path(out_dir).glob(f"{prefix}_*") if pattern.match(p.name)]


class SplitWriter:
    """Fills the shards of one split in order, and records after each how many
    of the split's documents are complete (``docs_done``) and how many tokens
    of the next one it already holds (``offset``): where a resumed run starts."""

    def __init__(self, out_dir, prefix, split, shard_tokens, bos, splits, on_shard):
        self.out_dir, self.prefix, self.split = Path(out_dir), prefix, split
        self.bos = bos
        self.splits = splits  # the manifest's {split: {shards, docs_done, offset}}
        self.state = splits[split]
        self.on_shard = on_shard
        self.buf = None  # allocated on the first document: a split may have none
        self.shard_tokens = shard_tokens
        self.fill = 0
        self.docs_seen = self.state["docs_done"]

    def add(self, tokens, k, start_in_doc):
        """Append document ``k`` (from its token ``start_in_doc`` on)."""
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
                    self._flush(k + 1, 0)
                else:
                    self._flush(k, start_in_doc + pos)
        self.docs_seen = k + 1

    def finish(self):
        if self.fill:
            self._flush(self.docs_seen, 0)

    def _flush(self, docs_done, offset):
        tokens = self.buf[: self.fill]
        # llm.c numbers the validation shard 000000, training ones from 000001
        index = len(self.state["shards"]) + (self.split == "train")
        path = self.out_dir / f"{self.prefix}_{self.split}_{index:06d}.bin"
        try:
            write_shard(path, tokens)
        except OSError as error:  # disk full: write_shard left no file
            done = sum(len(v["shards"]) for v in self.splits.values())
            needed = HEADER_BYTES + 2 * len(tokens)
            raise write_error(path, error, needed, done) from None
        self.state["shards"].append(
            {
                "file": path.name,
                "n_tokens": int(self.fill),
                "n_documents": int(np.count_nonzero(tokens == self.bos)),
            }
        )
        self.state["docs_done"], self.state["offset"] = int(docs_done), int(offset)
        self.fill = 0
        self.on_shard(path.name)


def _prepare_output(out_dir, prefix, fingerprint, overwrite, log):
    """The manifest to continue from (same inputs and options, shards
    intact), or None after deleting the prefix's old shards."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for leftover in [p for p in _own_files(out_dir, prefix) if ".tmp" in p.suffix]:
        leftover.unlink()
    try:
        manifest = json.loads(manifest_path(out_dir, prefix).read_text())
    except (OSError, ValueError):
        manifest = None
    existing = _own_files(out_dir, prefix)
    same = manifest is not None and manifest.get("fingerprint") == fingerprint
    if same and not overwrite:
        recorded = {
            s["file"]: s["n_tokens"]
            for split in manifest["splits"].values()
            for s in split["shards"]
        }
        try:
            intact = all(read_header(out_dir / f) == n for f, n in recorded.items())
        except ShardError:
            intact = False
        if intact:
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
    manifest_path(out_dir, prefix).unlink(missing_ok=True)
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
    if txt_mode not in TXT_MODES:
        raise TokenizeError(f"txt_mode {txt_mode!r}: use file, line or paragraph")
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
    fingerprint = {
        "format": FORMAT_VERSION,
        "inputs": [
            [str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in files
        ],
        "encoding": encoding.name,
        "n_vocab": encoding.n_vocab,
        "shard_tokens": int(shard_tokens),
        "val_fraction": val_fraction,
        "val_tokens": int(val_tokens or 0),
        "text_column": text_column,
        "txt_mode": txt_mode,
        "max_docs": max_docs,
    }
    try:
        manifest = _prepare_output(out_dir, prefix, fingerprint, overwrite, log)
    except OSError as error:  # e.g. a read-only or missing parent folder
        raise write_error(out_dir, error) from None
    if manifest is not None and manifest.get("complete"):
        log(f"{manifest_path(out_dir, prefix)}: already complete, nothing to do")
        return manifest
    if manifest:
        splits = manifest["splits"]
        done = sum(len(v["shards"]) for v in splits.values())
        log(f"resuming: {done} shard(s) already written in {out_dir}")
    else:
        splits = {s: {"shards": [], "docs_done": 0, "offset": 0} for s in SPLITS}
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

    from tqdm import tqdm

    bar = tqdm(
        unit="tok",
        unit_scale=True,
        desc=f"tokenizing {prefix}",
        file=sys.stderr,
        disable=not progress,
    )

    def save_manifest(shard_name=None):
        try:
            write_json(manifest_path(out_dir, prefix), manifest)
        except OSError as error:  # the manifest on disk is the previous one
            raise write_error(manifest_path(out_dir, prefix), error) from None
        if shard_name:
            bar.set_postfix_str(shard_name)

    save_manifest()
    writers = {
        s: SplitWriter(out_dir, prefix, s, shard_tokens, bos, splits, save_manifest)
        for s in SPLITS
    }
    stats = {"files": 0, "documents": 0, **dict.fromkeys(SKIPS, 0), "examples": []}
    documents = iter_documents(files, stats, text_column, txt_mode, strict)
    splitter = Splitter(encoding, val_fraction, val_tokens)
    resume = {s: (splits[s]["docs_done"], splits[s]["offset"]) for s in SPLITS}
    tasks = _tasks(itertools.islice(documents, max_docs), splitter, resume)
    results = _encoded(tasks, encoding, workers)
    written = 0
    started = time.perf_counter()
    try:
        for result in results:
            for split, k, drop, tokens in result:
                writers[split].add(tokens, k, drop)
                written += len(tokens)
                bar.update(len(tokens))
        for writer in writers.values():
            writer.finish()
    finally:
        results.close()  # stops the worker pool now, even on an error
        bar.close()
    elapsed = time.perf_counter() - started

    if stats["documents"] == 0:
        skipped = {k: stats[k] for k in SKIPS if stats[k]}
        raise TokenizeError(
            f"no document found in {len(files)} input file(s); skipped: "
            f"{skipped or 'nothing'}"
        )
    manifest.update(
        complete=True,
        stats=stats,
        documents={s: writers[s].docs_seen for s in SPLITS},
        tokens={s: sum(x["n_tokens"] for x in splits[s]["shards"]) for s in SPLITS},
        seconds=round(elapsed, 3),
        tokens_per_second=round(written / max(elapsed, 1e-9)),
    )
    save_manifest()
    if not splits["val"]["shards"] and (val_fraction or val_tokens):
        log("warning: empty validation split: raise --val-fraction or use --val-tokens")
    if not splits["train"]["shards"]:
        log("warning: empty training split: lower --val-tokens or --val-fraction")
    return manifest


def summary(manifest, out_dir, prefix):
    """Human-readable lines about a completed tokenization."""
    lines = []
    for split in SPLITS:
        shards = manifest["splits"][split]["shards"]
        span = f" ({shards[0]['file']} ... {shards[-1]['file']})" if shards else ""
        lines.append(
            f"{split}: {manifest['documents'][split]:,} documents, "
            f"{manifest['tokens'][split]:,} tokens in {len(shards)} shard(s){span}"
        )
    stats = manifest["stats"]
    skipped = [f"{stats[k]} {k.replace('_', ' ')}" for k in SKIPS if stats[k]]
    lines.append(
        f"read {stats['files']} file(s), {stats['documents']:,} documents; "
        f"skipped: {', '.join(skipped) or 'none'}"
    )
    lines.extend(f"  e.g. {example}" for example in stats["examples"])
    lines.append(
        f"{manifest['tokens_per_second']:,} tokens/s over {manifest['seconds']} s; "
        f"manifest: {manifest_path(out_dir, prefix)}"
    )
    return "\n".join(lines)


def parse_args(argv=None):
    """The options, named as :func:`tokenize_corpus`'s parameters, and the
    ``hf_*`` ones of :func:`fetch_hf_parquet`."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmark_tools.tokenizer",
        description="Tokenize text (.txt, .jsonl, .parquet, or a Hugging Face "
        "dataset's parquet files) into GPT-2 token shards.",
    )
    add = parser.add_argument
    add("inputs", nargs="*", help="files or folders of .txt/.jsonl/.parquet")
    add("--out", dest="out_dir", type=Path, required=True, help="output folder")
    add("--prefix", default="corpus", help="shard names: PREFIX_train_000001.bin")
    hub = parser.add_argument_group("Hugging Face dataset input").add_argument
    hub("--hf-dataset", help="dataset repository, e.g. HuggingFaceFW/fineweb-edu")
    hub("--hf-files", default="*.parquet", help="glob, e.g. 'sample/10BT/*.parquet'")
    hub("--hf-max-files", type=int, help="take only the first N matching files")
    hub("--hf-revision", help="branch, tag or commit")
    hub("--hf-dir", type=Path, help="download folder (default: the hub's cache)")
    add("--text-column", default="text", help="jsonl field / parquet column")
    add("--txt-mode", choices=TXT_MODES, default="file", help="what a .txt document is")
    add("--encoding", default="gpt2", help="tiktoken encoding (default gpt2)")
    add(
        "--shard-tokens",
        type=int,
        default=DEFAULT_SHARD_TOKENS,
        help=f"tokens per shard (default {DEFAULT_SHARD_TOKENS:,})",
    )
    val = parser.add_mutually_exclusive_group().add_argument
    val("--val-fraction", type=float, help="validation share, by text hash (0.05)")
    val("--val-tokens", type=int, help="validation: the first documents, N tokens")
    workers = min(8, os.cpu_count() or 1)
    add("--workers", type=int, default=workers, help="encoding processes (CPUs, <= 8)")
    add("--max-docs", type=int, help="stop after N documents")
    add("--strict", action="store_true", help="fail on malformed input, not skip")
    add("--overwrite", action="store_true", help="replace the prefix's shards")
    add("--no-progress", dest="progress", action="store_false", help="no progress bar")
    args = parser.parse_args(argv)
    if not args.inputs and not args.hf_dataset:
        parser.error("give input files/folders or --hf-dataset")
    return args


def main(argv=None):
    raw = sys.argv[1:] if argv is None else list(argv)
    options = vars(parse_args(argv))
    inputs = options.pop("inputs")
    hub = [
        options.pop(f"hf_{k}")
        for k in ("dataset", "files", "max_files", "revision", "dir")
    ]
    command = shlex.join(["python", "-m", "benchmark_tools.tokenizer", *raw])
    try:
        if hub[0]:
            inputs += fetch_hf_parquet(*hub)
        manifest = tokenize_corpus(inputs, command=command, **options)
    except (TokenizeError, ShardError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if "stats" in manifest:
        print(summary(manifest, options["out_dir"], options["prefix"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
