"""Look inside token shards: ``python -m benchmark_tools.inspect_shards``.

For a shard or a folder of shards: header fields, token and document counts,
document length statistics, decoded samples, the most frequent tokens, and
optionally a PNG histogram of document lengths (``--plot``).

Documents are delimited by the BOS token (``<|endoftext|>``, 50256), which
precedes every document. Consecutive shards of one split
(``x_train_000001.bin``, ``x_train_000002.bin`` ...) are one stream: a
document cut at the end of a shard and continued in the next counts once,
with its whole length. Tokens before the first BOS of a stream (a stream that
starts mid-document) are reported as a leading partial document and left out
of the statistics. Shards are scanned in chunks through a memory map: memory
is proportional to the number of documents.

A file holding a token id at or above the vocabulary (``--vocab``; default:
``n_vocab`` of the folder's ``*_tokenize.json``, else GPT-2's 50,257, so the
padding ids 50257..50303 count too) is reported as invalid with the first
such id and its position, and the exit status is 1, as for a corrupt file.

Examples::

    python -m benchmark_tools.inspect_shards ../shared/data/sotu --plot sotu.png
    python -m benchmark_tools.inspect_shards data/fineweb/fineweb_val_000000.bin
    python -m benchmark_tools.inspect_shards data/my_corpus --json
"""

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

from benchmark_utils.data.documents import document_starts, token_counts
from benchmark_utils.data.shards import (
    HEADER_BYTES,
    HEADER_INTS,
    ShardError,
    TokenRangeError,
    first_out_of_range,
    natural_key,
    open_shard,
    read_header,
)

GPT2_BOS = 50256
GPT2_VOCAB = 50257
MANIFEST_SUFFIX = "_tokenize.json"
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9, 0.99)


def stream_key(path):
    """Shards of one stream share their name up to the final number."""
    return re.sub(r"_?\d+$", "", Path(path).stem)


def header_fields(path):
    """The raw header (whatever it holds) and the file size."""
    path = Path(path)
    size = path.stat().st_size
    raw = np.fromfile(path, dtype="<i4", count=min(HEADER_INTS, size // 4))
    fields = {"bytes": size}
    if len(raw) >= 3:
        fields.update(magic=int(raw[0]), version=int(raw[1]), header_tokens=int(raw[2]))
        fields["other_nonzero_fields"] = int(np.count_nonzero(raw[3:]))
    return fields


def load_decoder(encoding):
    """``(decode, note)``: a function from token ids to text, or None."""
    if encoding is None or encoding == "none":
        return None, "decoding disabled"
    try:
        import tiktoken

        enc = tiktoken.get_encoding(encoding) if isinstance(encoding, str) else encoding
    except Exception as error:  # no cache and no network
        return None, (
            f"cannot load the {encoding!r} encoding ({type(error).__name__}); set "
            "TIKTOKEN_CACHE_DIR to show text"
        )
    return (lambda ids: enc.decode([int(i) for i in ids])), None


def length_stats(lengths):
    if len(lengths) == 0:
        return {"count": 0}
    lengths = np.asarray(lengths, dtype=np.int64)
    quantiles = np.quantile(lengths, QUANTILES)
    return {
        "count": int(len(lengths)),
        "mean": float(lengths.mean()),
        "std": float(lengths.std()),
        "min": int(lengths.min()),
        "max": int(lengths.max()),
        **{f"p{round(q * 100)}": float(v) for q, v in zip(QUANTILES, quantiles)},
    }


def inspect(
    paths,
    bos_token=GPT2_BOS,
    encoding="gpt2",
    n_samples=3,
    sample_tokens=40,
    top=15,
    plot=None,
    seq_len=1024,
    vocab_size=GPT2_VOCAB,
    vocab_origin=None,
):
    """A report (dict) on the shards ``paths``; see the module docstring.

    A file holding an id ``>= vocab_size`` (``None``: no check) is reported
    as invalid, with the first such id and its position: the benchmark would
    refuse it.
    """
    paths = sorted((Path(p) for p in paths), key=natural_key)
    decode, decode_note = load_decoder(encoding)
    files, streams = [], {}
    counts = np.zeros(1 << 16, dtype=np.int64)
    for path in paths:
        entry = {"file": str(path), **header_fields(path)}
        files.append(entry)
        try:
            n_tokens = read_header(path)
        except ShardError as error:
            entry["error"] = error.problem
            continue
        tokens = open_shard(path)
        starts = (
            document_starts(tokens, bos_token)
            if bos_token is not None
            else np.zeros(0, dtype=np.int64)
        )
        entry.update(tokens=n_tokens, documents=int(len(starts)))
        file_counts = token_counts(tokens)
        if n_tokens:
            entry["max_token_id"] = int(np.flatnonzero(file_counts)[-1])
            if vocab_size is not None and entry["max_token_id"] >= vocab_size:
                position, value = first_out_of_range(tokens, vocab_size)
                error = TokenRangeError(path, position, value, vocab_size, vocab_origin)
                entry["error"], entry["error_message"] = error.problem, str(error)
        counts += file_counts
        streams.setdefault(stream_key(path), []).append((path, n_tokens, starts))

    report = {
        "files": files,
        "streams": {},
        "bos_token": bos_token,
        "vocab_size": vocab_size,
    }
    by_stream = {}
    for key, members in streams.items():
        lengths, leading = stream_lengths(members)
        by_stream[key] = lengths
        stream = {
            "files": len(members),
            "tokens": int(sum(n for _, n, _ in members)),
            "documents": int(len(lengths)),
            "leading_partial_tokens": int(leading),
            "length": length_stats(lengths),
        }
        if len(lengths) and seq_len:
            stream[f"shorter_than_{seq_len}"] = float(np.mean(lengths < seq_len))
        report["streams"][key] = stream
    lengths = np.concatenate(list(by_stream.values()) or [np.zeros(0, np.int64)])
    total = int(counts.sum())
    report["total"] = {
        "files": len(files),
        "bad_files": sum("error" in f for f in files),
        "tokens": total,
        "documents": int(len(lengths)),
        "length": length_stats(lengths),
    }
    order = np.argsort(-counts, kind="stable")[:top]
    report["top_tokens"] = [
        {
            "id": int(i),
            "count": int(counts[i]),
            "share": float(counts[i] / max(total, 1)),
            **({"text": decode([i])} if decode else {}),
        }
        for i in order
        if counts[i]
    ]
    report["samples"] = _samples(streams, n_samples, sample_tokens, decode)
    if decode_note:
        report["decode_note"] = decode_note
    if plot:
        report["plot"] = str(plot_lengths(report, by_stream, plot, seq_len))
    return report


def stream_lengths(members):
    """``(lengths, leading)``: the document lengths of a stream of shards
    ``(path, n_tokens, bos positions)``, read as one token sequence (a
    document continued across shards counts once, with its whole length);
    ``leading``: tokens before the stream's first BOS."""
    sizes = np.array([n for _, n, _ in members], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    starts = np.concatenate(
        [np.asarray(s, dtype=np.int64) + o for (_, _, s), o in zip(members, offsets)]
    )
    if len(starts) == 0:
        return np.zeros(0, dtype=np.int64), int(offsets[-1])
    return np.diff(np.append(starts, offsets[-1])), int(starts[0])


def _samples(streams, n_samples, sample_tokens, decode):
    """The first tokens of ``n_samples`` documents spread evenly over the
    first stream that has documents."""
    for key, members in streams.items():
        docs = [(p, int(s)) for p, _, starts in members for s in starts]
        if not docs or n_samples <= 0:
            continue
        picks = np.unique(
            np.linspace(0, len(docs) - 1, min(n_samples, len(docs))).round()
        )
        out = []
        for i in picks.astype(int):
            path, start = docs[i]
            tokens = open_shard(path)
            ids = np.asarray(tokens[start : start + sample_tokens + 1], dtype=np.int64)
            sample = {
                "stream": key,
                "document": int(i),
                "file": path.name,
                "ids": ids.tolist(),
            }
            if decode:
                sample["text"] = decode(ids)
            out.append(sample)
        return out
    return []


def plot_lengths(report, lengths_by_stream, path, seq_len=None):
    """Histogram of document lengths (log-spaced bins), one line per stream."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    path = Path(path)
    fig, ax = plt.subplots(figsize=(7, 4))
    non_empty = [v for v in lengths_by_stream.values() if len(v)]
    if non_empty:
        low = max(1, min(int(v.min()) for v in non_empty))
        top = max(int(v.max()) for v in non_empty)
        bins = np.unique(np.geomspace(low, max(top, low + 1) + 1, 50).astype(int))
        for key, lengths in lengths_by_stream.items():
            if len(lengths):
                ax.hist(
                    lengths,
                    bins=bins,
                    histtype="step",
                    linewidth=1.5,
                    label=f"{key} ({len(lengths):,} docs, median "
                    f"{np.median(lengths):,.0f})",
                )
        ax.set_xscale("log")
        # Plain labels at 1, 2, 5 x 10^k (the default minor labels overlap).
        ticker = matplotlib.ticker
        ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ticker.StrMethodFormatter("{x:,.0f}"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        if seq_len:
            ax.axvline(
                seq_len, color="gray", linestyle="--", label=f"seq_len {seq_len}"
            )
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no documents", ha="center", va="center")
    ax.set_xlabel("document length (tokens, including its <|endoftext|>)")
    ax.set_ylabel("documents")
    ax.set_title(f"Document lengths: {report['total']['documents']:,} documents")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def shard_paths(target, pattern="*.bin"):
    target = Path(target).expanduser()
    if target.is_dir():
        paths = sorted(target.glob(pattern), key=natural_key)
        if not paths:
            raise FileNotFoundError(f"no file matching {pattern!r} in {target}")
        return paths
    if not target.exists():
        raise FileNotFoundError(f"{target}: no such file or folder")
    return [target]


def _fmt_length(stats):
    if not stats.get("count"):
        return "no documents"
    return (
        f"mean {stats['mean']:,.1f}, std {stats['std']:,.1f}, min {stats['min']:,}, "
        f"p10 {stats['p10']:,.0f}, median {stats['p50']:,.0f}, p90 "
        f"{stats['p90']:,.0f}, p99 {stats['p99']:,.0f}, max {stats['max']:,}"
    )


def format_report(report):
    lines = ["files:"]
    for f in report["files"]:
        name = Path(f["file"]).name
        head = (
            f"magic {f.get('magic')}, version {f.get('version')}, "
            f"header tokens {f.get('header_tokens'):,}"
            if "magic" in f
            else "no header"
        )
        if "error" in f and "tokens" not in f:
            lines.append(
                f"  {name}: INVALID ({f['error']}); {head}, {f['bytes']:,} bytes"
            )
            continue
        extra = f", {f['other_nonzero_fields']} other non-zero header field(s)"
        lines.append(
            f"  {name}: {head}, {f['bytes']:,} bytes (= {HEADER_BYTES} + 2 x "
            f"{f['tokens']:,}), {f['documents']:,} BOS, max token id "
            f"{f.get('max_token_id', '-')}"
            + (extra if f["other_nonzero_fields"] else "")
        )
        if "error" in f:
            lines.append(f"    INVALID: {f['error']}")
    for key, s in report["streams"].items():
        lines.append(
            f"stream {key}: {s['files']} file(s), {s['tokens']:,} tokens, "
            f"{s['documents']:,} documents"
            + (
                f", {s['leading_partial_tokens']:,} tokens before the first BOS"
                if s["leading_partial_tokens"]
                else ""
            )
        )
        lines.append(f"  document length: {_fmt_length(s['length'])}")
        short = [k for k in s if k.startswith("shorter_than_")]
        for k in short:
            lines.append(f"  documents {k.replace('_', ' ')} tokens: {s[k]:.1%}")
    t = report["total"]
    lines.append(
        f"total: {t['files']} file(s) ({t['bad_files']} invalid), {t['tokens']:,} "
        f"tokens, {t['documents']:,} documents"
    )
    lines.append(f"  document length: {_fmt_length(t['length'])}")
    lines.append("most frequent tokens:")
    for tok in report["top_tokens"]:
        text = f" {tok['text']!r}" if "text" in tok else ""
        lines.append(f"  {tok['id']:>6}{text}: {tok['count']:,} ({tok['share']:.2%})")
    if report.get("decode_note"):
        lines.append(f"note: {report['decode_note']}")
    for s in report["samples"]:
        shown = repr(s["text"]) if "text" in s else str(s["ids"])
        lines.append(
            f"sample: document {s['document']} of {s['stream']} ({s['file']}): {shown}"
        )
    if report.get("plot"):
        lines.append(f"plot: {report['plot']}")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmark_tools.inspect_shards",
        description="Header fields, token/document counts, document lengths, "
        "samples and frequent tokens of token shards.",
    )
    parser.add_argument("path", help="a shard file or a folder of shards")
    parser.add_argument("--pattern", default="*.bin", help="glob inside a folder")
    parser.add_argument(
        "--bos", type=int, default=GPT2_BOS, help="document separator; -1: none"
    )
    parser.add_argument(
        "--encoding",
        default="gpt2",
        help="tiktoken encoding to decode with; 'none': ids",
    )
    parser.add_argument("--samples", type=int, default=3, help="documents to show")
    parser.add_argument(
        "--sample-tokens", type=int, default=40, help="tokens per sample"
    )
    parser.add_argument(
        "--top", type=int, default=15, help="most frequent tokens to list"
    )
    parser.add_argument(
        "--vocab",
        type=int,
        help="vocabulary size: an id at or above it is an error (default: "
        "n_vocab of the folder's *_tokenize.json, else GPT-2's 50257; -1: no "
        "check)",
    )
    parser.add_argument("--seq-len", type=int, default=1024, help="marked on the plot")
    parser.add_argument(
        "--plot", type=Path, help="write a PNG histogram of document lengths"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        paths = shard_paths(args.path, args.pattern)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.vocab is None:
        vocab_size, vocab_origin = manifest_vocab(args.path)
    else:
        vocab_size = None if args.vocab < 0 else args.vocab
        vocab_origin = "--vocab"
    report = inspect(
        paths,
        bos_token=None if args.bos < 0 else args.bos,
        encoding=args.encoding,
        n_samples=args.samples,
        sample_tokens=args.sample_tokens,
        top=args.top,
        plot=args.plot,
        seq_len=args.seq_len,
        vocab_size=vocab_size,
        vocab_origin=vocab_origin,
    )
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    for f in report["files"]:
        if "error" in f:
            message = f.get("error_message") or f"{f['file']}: {f['error']}"
            print(f"error: {message}", file=sys.stderr)
    return 1 if report["total"]["bad_files"] else 0


def manifest_vocab(target):
    """``(n_vocab, origin)`` from the tokenizer manifest beside ``target``
    (a folder or a shard), else GPT-2's vocabulary."""
    target = Path(target).expanduser()
    folder = target if target.is_dir() else target.parent
    for manifest in sorted(folder.glob(f"*{MANIFEST_SUFFIX}")):
        try:
            n_vocab = json.loads(manifest.read_text())["n_vocab"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(n_vocab, int) and n_vocab > 0:
            return n_vocab, f"n_vocab in {manifest.name}"
    return GPT2_VOCAB, "GPT-2"


if __name__ == "__main__":
    sys.exit(main())
