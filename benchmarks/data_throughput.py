"""Data pipeline throughput: the tokenizer and the batch loader.

    python benchmarks/data_throughput.py [--corpus-copies 4] [--workers 1 2]

1. Tokenizer: tokens per second of ``benchmark_tools.tokenizer`` (GPT-2 BPE,
   whole pipeline: reading JSONL, encoding, writing shards) with 1 and 2
   worker processes. The corpus is the SOTU training text (decoded from
   ``../shared/data/sotu``, ``--corpus-copies`` times) or ``--text-jsonl``.
   Needs the GPT-2 BPE files (``TIKTOKEN_CACHE_DIR``; set to
   ``../shared/tiktoken_cache`` when it exists).
2. Loader: tokens per second that ``BatchLoader.next_batch`` delivers on the
   CPU (micro-batch ``--batch`` x ``--seq-len``, ``--accum`` micro-batches
   per step, read at once) in the three data orders, from generated shards
   with FineWeb-like document lengths, against the ~450K tokens/s that a
   GPT-2 124M training run consumes on one H100.
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import harness
import numpy as np

from benchmark_tools.tokenizer import tokenize_corpus
from benchmark_utils.data.loader import BatchLoader
from benchmark_utils.data.shards import open_shard, write_shard

H100_TOKENS_PER_S = 450_000
SHARED = harness.ROOT.parent / "shared"
SOTU = SHARED / "data" / "sotu"
BOS = 50256


def sotu_jsonl(path, copies):
    """The SOTU training documents as JSONL, ``copies`` times."""
    import tiktoken

    enc = tiktoken.get_encoding("gpt2")
    tokens = np.asarray(open_shard(SOTU / "sotu_train_000001.bin"))
    starts = np.flatnonzero(tokens == BOS)
    ends = [*starts[1:], len(tokens)]
    texts = [enc.decode(tokens[s + 1 : e].tolist()) for s, e in zip(starts, ends)]
    lines = [json.dumps({"text": text}) + "\n" for text in texts]
    Path(path).write_text("".join(lines * copies), encoding="utf-8")
    return path


def bench_tokenizer(jsonl, workers, tmp, repeat):
    """Best (and median) of ``repeat`` runs: the machine may be shared."""
    times = []
    for r in range(repeat):
        start = time.perf_counter()
        manifest = tokenize_corpus(
            [jsonl],
            Path(tmp) / f"tok_w{workers}_{r}",
            prefix="bench",
            shard_tokens=10_000_000,
            val_fraction=0.01,
            workers=workers,
            progress=False,
            log=lambda message: None,
        )
        times.append(time.perf_counter() - start)
    tokens = sum(manifest["tokens"].values())
    best, median = min(times), float(np.median(times))
    print(
        f"tokenizer, {workers} worker(s): {tokens:,} tokens in {best:.2f} s "
        f"= {tokens / best:,.0f} tokens/s (best of {repeat}; median "
        f"{tokens / median:,.0f})"
    )
    return dict(
        tokens=tokens,
        seconds=times,
        tokens_per_s=tokens / best,
        median_tokens_per_s=tokens / median,
    )


def make_shards(folder, n_shards, shard_tokens):
    """Shards of random tokens with documents of log-normal lengths (median
    ~600 tokens, a long tail, as in FineWeb)."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(1, n_shards + 1):
        tokens = rng.integers(0, 50000, shard_tokens, dtype=np.uint16)
        lengths = rng.lognormal(np.log(600), 1.0, shard_tokens // 300 + 10)
        starts = np.cumsum(lengths.astype(int) + 1)
        tokens[starts[starts < shard_tokens]] = BOS
        tokens[0] = BOS
        paths.append(write_shard(Path(folder) / f"bench_train_{i:06d}.bin", tokens))
    return paths


def bench_loader(paths, order, batch, seq_len, steps, accum):
    batch_tokens = accum * batch * seq_len
    loader = BatchLoader(
        paths, batch, seq_len, order=order, batch_tokens=batch_tokens, bos_token=BOS
    )
    start = time.perf_counter()
    loader.next_batch()  # BOS-aligned: indexes the first shard
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        loader.next_batch()
    rate = steps * batch * seq_len / (time.perf_counter() - start)
    vs_h100 = rate / H100_TOKENS_PER_S
    out = dict(tokens_per_s=rate, first_batch_s=first, vs_h100=vs_h100)
    extra = ""
    if order == "bos_aligned":
        out["coverage"] = loader.plan.index.coverage()
        extra = f", uses {out['coverage']:.0%} of the tokens"
    print(
        f"loader {order}: {rate:,.0f} tokens/s = {vs_h100:,.0f}x the ~450K "
        f"tokens/s of GPT-2 124M on one H100 (first batch {first * 1e3:.0f} ms"
        f"{extra})"
    )
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus-copies", type=int, default=4)
    parser.add_argument("--text-jsonl", type=Path, help="JSONL corpus instead of SOTU")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=3, help="tokenizer runs")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=300, help="micro-batches")
    parser.add_argument("--accum", type=int, default=1, help="micro-batches a step")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--shard-tokens", type=int, default=20_000_000)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    if SHARED.is_dir():
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(SHARED / "tiktoken_cache"))
    results = {"cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        jsonl = args.text_jsonl
        if jsonl is None and SOTU.is_dir():
            jsonl = sotu_jsonl(Path(tmp) / "sotu.jsonl", args.corpus_copies)
        if jsonl is None:
            print("tokenizer: skipped (no --text-jsonl and no SOTU corpus)")
        else:
            results["tokenizer"] = {
                workers: bench_tokenizer(jsonl, workers, tmp, args.repeat)
                for workers in args.workers
            }
        paths = make_shards(tmp, args.shards, args.shard_tokens)
        results["loader"] = {
            order: bench_loader(
                paths, order, args.batch, args.seq_len, args.steps, args.accum
            )
            for order in ("track3", "contiguous", "bos_aligned")
        }
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
