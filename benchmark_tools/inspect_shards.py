"""Look inside token shards: ``python -m benchmark_tools.inspect_shards``.

For a shard or a folder of shards: header fields, token and document counts,
document length statistics, decoded samples, the most frequent tokens, and
optionally a PNG histogram of document lengths (``--plot``). Every document
starts with ``<|endoftext|>``; the shards of one split are one stream, so a
document continued in the next shard counts once, whole. A file holding a
token id at or above the vocabulary (``--vocab``; default: the folder's
tokenizer manifest, else GPT-2's 50,257) is invalid, like a corrupt one:
the report names the first such id and the exit status is 1.
"""

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

from benchmark_utils.data.documents import document_starts, token_counts
from benchmark_utils.data.errors import ManifestError
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
from benchmark_utils.data.sources import tokenizer_manifests

GPT2_BOS = 50256
GPT2_VOCAB = 50257
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9, 0.99)
NO_DOCUMENTS = np.zeros(0, dtype=np.int64)


def header_fields(path):
    """The raw header (whatever it holds) and the file size."""
    size = Path(path).stat().st_size
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
    quantiles = np.quantile(lengths, QUANTILES)
    return {
        "count": len(lengths),
        "mean": float(lengths.mean()),
        "std": float(lengths.std()),
        "min": int(lengths.min()),
        "max": int(lengths.max()),
        **{f"p{round(q * 100)}": float(v) for q, v in zip(QUANTILES, quantiles)},
    }


def stream_lengths(members):
    """``(lengths, leading)`` of a stream of shards ``(path, n_tokens, BOS
    positions)`` read as one sequence: its documents' lengths, and the
    tokens before its first BOS."""
    offsets = np.cumsum([0] + [n for _, n, _ in members])
    starts = np.concatenate(
        [NO_DOCUMENTS] + [s + o for (_, _, s), o in zip(members, offsets)]
    )
    if len(starts) == 0:
        return NO_DOCUMENTS, int(offsets[-1])
    return np.diff(np.append(starts, offsets[-1])), int(starts[0])


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
    ``vocab_size=None``: no token id check."""
    decode, decode_note = load_decoder(encoding)
    files, streams = [], {}
    counts = np.zeros(1 << 16, dtype=np.int64)
    for path in sorted(map(Path, paths), key=natural_key):
        entry = {"file": str(path), **header_fields(path)}
        files.append(entry)
        try:
            n_tokens = read_header(path)
        except ShardError as error:
            entry["error"] = error.problem
            continue
        tokens = open_shard(path)
        starts = (
            NO_DOCUMENTS if bos_token is None else document_starts(tokens, bos_token)
        )
        entry.update(tokens=n_tokens, documents=len(starts))
        file_counts = token_counts(tokens)
        counts += file_counts
        if n_tokens:
            entry["max_token_id"] = int(np.flatnonzero(file_counts)[-1])
            if vocab_size is not None and entry["max_token_id"] >= vocab_size:
                position, value = first_out_of_range(tokens, vocab_size)
                error = TokenRangeError(path, position, value, vocab_size, vocab_origin)
                entry.update(error=error.problem, error_message=str(error))
        # shards of one split share their name up to the final number
        key = re.sub(r"_?\d+$", "", path.stem)
        streams.setdefault(key, []).append((path, n_tokens, starts))

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
        report["streams"][key] = stream = {
            "files": len(members),
            "tokens": sum(n for _, n, _ in members),
            "documents": len(lengths),
            "leading_partial_tokens": leading,
            "length": length_stats(lengths),
        }
        if len(lengths) and seq_len:
            stream[f"shorter_than_{seq_len}"] = float(np.mean(lengths < seq_len))
    lengths = np.concatenate([NO_DOCUMENTS, *by_stream.values()])
    total = int(counts.sum())
    report["total"] = {
        "files": len(files),
        "bad_files": sum("error" in f for f in files),
        "tokens": total,
        "documents": len(lengths),
        "length": length_stats(lengths),
    }
    report["top_tokens"] = [
        {
            "id": int(i),
            "count": int(counts[i]),
            "share": float(counts[i] / max(total, 1)),
            **({"text": decode([i])} if decode else {}),
        }
        for i in np.argsort(-counts, kind="stable")[:top]
        if counts[i]
    ]
    report["samples"] = _samples(streams, n_samples, sample_tokens, decode)
    if decode_note:
        report["decode_note"] = decode_note
    if plot:
        report["plot"] = str(plot_lengths(report, by_stream, plot, seq_len))
    return report


def _samples(streams, n_samples, sample_tokens, decode):
    """The first tokens of ``n_samples`` documents spread evenly over the
    first stream that has documents."""
    for key, members in streams.items():
        docs = [(path, int(s)) for path, _, starts in members for s in starts]
        if not docs or n_samples <= 0:
            continue
        picks = np.linspace(0, len(docs) - 1, min(n_samples, len(docs))).round()
        out = []
        for i in np.unique(picks).astype(int):
            path, start = docs[i]
            ids = open_shard(path)[start : start + sample_tokens + 1].tolist()
            sample = {"stream": key, "document": int(i), "file": path.name, "ids": ids}
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
    from matplotlib import ticker

    fig, ax = plt.subplots(figsize=(7, 4))
    non_empty = {k: v for k, v in lengths_by_stream.items() if len(v)}
    if non_empty:
        low = max(1, min(int(v.min()) for v in non_empty.values()))
        high = max(max(int(v.max()) for v in non_empty.values()), low + 1)
        bins = np.unique(np.geomspace(low, high + 1, 50).astype(int))
        for key, lengths in non_empty.items():
            label = f"{key} ({len(lengths):,} docs, median {np.median(lengths):,.0f})"
            ax.hist(lengths, bins=bins, histtype="step", linewidth=1.5, label=label)
        ax.set_xscale("log")
        # Plain labels at 1, 2, 5 x 10^k (the default minor labels overlap).
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
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def _fmt_length(stats):
    if not stats["count"]:
        return "no documents"
    return (
        f"mean {stats['mean']:,.1f}, std {stats['std']:,.1f}, min {stats['min']:,}, "
        f"p10 {stats['p10']:,.0f}, median {stats['p50']:,.0f}, p90 "
        f"{stats['p90']:,.0f}, p99 {stats['p99']:,.0f}, max {stats['max']:,}"
    )


def _fmt_file(f):
    name = Path(f["file"]).name
    head = "no header"
    if "magic" in f:
        head = (
            f"magic {f['magic']}, version {f['version']}, "
            f"header tokens {f['header_tokens']:,}"
        )
    if "tokens" not in f:
        return [f"  {name}: INVALID ({f['error']}); {head}, {f['bytes']:,} bytes"]
    line = (
        f"  {name}: {head}, {f['bytes']:,} bytes (= {HEADER_BYTES} + 2 x "
        f"{f['tokens']:,}), {f['documents']:,} BOS, max token id "
        f"{f.get('max_token_id', '-')}"
    )
    if f["other_nonzero_fields"]:
        line += f", {f['other_nonzero_fields']} other non-zero header field(s)"
    return [line] + ([f"    INVALID: {f['error']}"] if "error" in f else [])


def format_report(report):
    lines = ["files:"]
    for f in report["files"]:
        lines += _fmt_file(f)
    for key, s in report["streams"].items():
        lead = s["leading_partial_tokens"]
        lines.append(
            f"stream {key}: {s['files']} file(s), {s['tokens']:,} tokens, "
            f"{s['documents']:,} documents"
            + (f", {lead:,} tokens before the first BOS" if lead else "")
        )
        lines.append(f"  document length: {_fmt_length(s['length'])}")
        for k in [k for k in s if k.startswith("shorter_than_")]:
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
        where = f"document {s['document']} of {s['stream']} ({s['file']})"
        lines.append(f"sample: {where}: {shown}")
    if report.get("plot"):
        lines.append(f"plot: {report['plot']}")
    return "\n".join(lines)


def manifest_vocab(folder, paths):
    """``(n_vocab, origin)`` from the tokenizer manifest of the shards
    ``paths`` in ``folder``, else GPT-2's vocabulary."""
    try:
        for manifest, meta in tokenizer_manifests(folder, paths).items():
            return meta["n_vocab"], f"n_vocab in {manifest.name}"
    except ManifestError:  # an unreadable manifest: the check still runs
        pass
    return GPT2_VOCAB, "GPT-2"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmark_tools.inspect_shards",
        description="Header fields, token/document counts, document lengths, "
        "samples and frequent tokens of token shards.",
    )
    add = parser.add_argument
    add("path", type=Path, help="a shard file or a folder of shards")
    add("--pattern", default="*.bin", help="glob inside a folder")
    add("--bos", type=int, default=GPT2_BOS, help="document separator; -1: none")
    add("--encoding", default="gpt2", help="tiktoken encoding; 'none': show ids")
    add("--samples", type=int, default=3, help="documents to show")
    add("--sample-tokens", type=int, default=40, help="tokens per sample")
    add("--top", type=int, default=15, help="most frequent tokens to list")
    add(
        "--vocab",
        type=int,
        help="vocabulary size: an id at or above it is an error (default: "
        "n_vocab of the folder's *_tokenize.json, else GPT-2's 50257; -1: no "
        "check)",
    )
    add("--seq-len", type=int, default=1024, help="marked on the plot")
    add("--plot", type=Path, help="write a PNG histogram of document lengths")
    add("--json", action="store_true", help="print the report as JSON")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    target = args.path.expanduser()
    folder = target if target.is_dir() else target.parent
    paths = list(target.glob(args.pattern)) if target.is_dir() else [target]
    if not target.exists() or not paths:
        problem = "no such file or folder"
        if target.exists():
            problem = f"no file matching {args.pattern!r}"
        print(f"error: {target}: {problem}", file=sys.stderr)
        return 2
    if args.vocab is None:
        vocab_size, vocab_origin = manifest_vocab(folder, paths)
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


if __name__ == "__main__":
    sys.exit(main())
