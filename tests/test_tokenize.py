"""The corpus tokenizer: round trips, determinism across workers, malformed
input, interrupted and repeated runs, hub input (faked)."""

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tiktoken

from benchmark_tools import tokenizer as tk
from benchmark_tools.tokenizer import TokenizeError, tokenize_corpus
from benchmark_utils.data.shards import open_shard, read_header

ROOT = Path(__file__).resolve().parents[1]
SHARED_CACHE = ROOT.parent / "shared" / "tiktoken_cache"
GPT2_PAT = (
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)


def tiny_encoding():
    """Byte-level BPE with three merges and <|endoftext|> = 259."""
    ranks = {bytes([i]): i for i in range(256)}
    ranks.update({b"th": 256, b"he": 257, b"the": 258})
    return tiktoken.Encoding(
        name="tiny-test",
        pat_str=GPT2_PAT,
        mergeable_ranks=ranks,
        special_tokens={"<|endoftext|>": 259},
    )


TINY = tiny_encoding()
BOS = 259

DOCS = [
    "the theory of the thing",
    "Caf\u00e9 cr\u00e8me, na\u00efve \u2014 \u00fcber \U0001f600 emoji",
    "a",
    "line one\nline two\n\nparagraph two <|endoftext|> is plain text here",
    *[f"document number {i}: " + "the weather " * (i % 7 + 1) for i in range(60)],
]


def quiet(**kwargs):
    return dict(encoding=TINY, progress=False, log=lambda message: None, **kwargs)


def write_jsonl(path, docs, key="text"):
    with open(path, "w", encoding="utf-8") as f:
        for doc in docs:
            f.write(json.dumps({key: doc, "id": len(doc)}) + "\n")
    return path


def read_split(out, prefix, split):
    """The documents (token arrays without BOS) of a split, in order."""
    files = sorted(Path(out).glob(f"{prefix}_{split}_*.bin"))
    if not files:
        return []
    tokens = np.concatenate([np.asarray(open_shard(f)) for f in files])
    assert tokens[0] == BOS or len(tokens) == 0
    starts = np.flatnonzero(tokens == BOS)
    ends = [*starts[1:], len(tokens)]
    return [tokens[s + 1 : e] for s, e in zip(starts, ends)]


def shard_bytes(out):
    return {p.name: p.read_bytes() for p in sorted(Path(out).glob("*.bin"))}


def test_round_trip_jsonl_txt_parquet(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    write_jsonl(src / "a.jsonl", DOCS[:30])
    (src / "b.txt").write_text(DOCS[30], encoding="utf-8")
    pq.write_table(
        pa.table({"id": list(range(len(DOCS) - 31)), "text": DOCS[31:]}),
        src / "c.parquet",
        row_group_size=7,
    )
    manifest = tokenize_corpus(
        [src / "a.jsonl", src / "b.txt", src / "c.parquet"],
        tmp_path / "out",
        prefix="toy",
        shard_tokens=300,
        val_fraction=0.0,
        **quiet(),
    )
    docs = read_split(tmp_path / "out", "toy", "train")
    assert [TINY.decode(d.tolist()) for d in docs] == DOCS
    assert [d.tolist() for d in docs] == [TINY.encode_ordinary(t) for t in DOCS]
    shards = manifest["splits"]["train"]["shards"]
    assert [read_header(tmp_path / "out" / s["file"]) for s in shards[:-1]] == [300] * (
        len(shards) - 1
    )  # every shard but the last is full
    assert manifest["documents"] == {"val": 0, "train": len(DOCS)}
    assert manifest["bos_token"] == BOS and manifest["complete"]


def test_val_fraction_splits_documents_by_hash(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", DOCS)
    tokenize_corpus(
        [tmp_path / "in.jsonl"], tmp_path / "out", val_fraction=0.3, **quiet()
    )
    val = [
        TINY.decode(d.tolist()) for d in read_split(tmp_path / "out", "corpus", "val")
    ]
    train = [
        TINY.decode(d.tolist()) for d in read_split(tmp_path / "out", "corpus", "train")
    ]
    assert 0 < len(val) < len(DOCS) and len(val) + len(train) == len(DOCS)
    # each split keeps the input order; the split depends on the text only
    assert val == [d for d in DOCS if d in set(val)]
    assert train == [d for d in DOCS if d not in set(val)]
    splitter = tk.Splitter(TINY, val_fraction=0.3)
    assert [splitter.route(d)[0] == "val" for d in DOCS] == [
        d in set(val) for d in DOCS
    ]


def test_val_tokens_takes_the_first_documents(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", DOCS)
    m = tokenize_corpus(
        [tmp_path / "in.jsonl"],
        tmp_path / "out",
        val_fraction=0.0,
        val_tokens=100,
        **quiet(),
    )
    lengths = [len(TINY.encode_ordinary(d)) + 1 for d in DOCS]
    n_val = int(np.searchsorted(np.cumsum(lengths), 100)) + 1
    assert m["documents"]["val"] == n_val
    assert m["tokens"]["val"] == sum(lengths[:n_val]) >= 100
    assert sum(lengths[: n_val - 1]) < 100


@pytest.mark.parametrize("workers", [2, 3])
def test_parallel_output_equals_serial_byte_for_byte(tmp_path, workers, monkeypatch):
    monkeypatch.setattr(tk, "TASK_DOCS", 5)  # many small tasks, out of order
    paths = [write_jsonl(tmp_path / f"in{i}.jsonl", DOCS[i::3]) for i in range(3)]
    kwargs = dict(shard_tokens=257, val_fraction=0.2, **quiet())
    tokenize_corpus(paths, tmp_path / "serial", workers=1, **kwargs)
    tokenize_corpus(paths, tmp_path / "parallel", workers=workers, **kwargs)
    serial = shard_bytes(tmp_path / "serial")
    assert len(serial) > 3
    assert shard_bytes(tmp_path / "parallel") == serial


def test_malformed_inputs_are_counted_or_rejected(tmp_path):
    bad = tmp_path / "bad.jsonl"
    with open(bad, "wb") as f:
        f.write(b'{"text": "good one"}\n')
        f.write(b'{"text": "broken\n')  # invalid JSON
        f.write(b'{"text": "caf\xe9"}\n')  # Latin-1 byte: invalid UTF-8
        f.write(b'{"body": "no text field"}\n')  # missing text
        f.write(b'{"text": null}\n')  # missing text
        f.write(b'{"text": "   "}\n')  # empty document
        f.write(b'{"text": "\\ud800 lone surrogate"}\n')  # invalid UTF-8 escape
        f.write(b"\n")  # blank line: ignored
        f.write(b'{"text": "good two"}\n')
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "latin1.txt").write_bytes("na\xefve".encode("latin-1"))
    inputs = [
        bad,
        tmp_path / "empty.txt",
        tmp_path / "empty.jsonl",
        tmp_path / "latin1.txt",
    ]
    m = tokenize_corpus(inputs, tmp_path / "out", val_fraction=0.0, **quiet())
    stats = m["stats"]
    assert stats["documents"] == 2
    assert (stats["invalid_json"], stats["invalid_utf8"], stats["missing_text"]) == (
        1,
        3,
        2,
    )
    assert (stats["empty_documents"], stats["empty_files"]) == (1, 2)
    assert f"{bad}:2: invalid json" in stats["examples"]
    docs = read_split(tmp_path / "out", "corpus", "train")
    assert [TINY.decode(d.tolist()) for d in docs] == ["good one", "good two"]

    with pytest.raises(TokenizeError, match=r"bad.jsonl:2: invalid json \(--strict\)"):
        tokenize_corpus([bad], tmp_path / "strict", strict=True, **quiet())
    with pytest.raises(TokenizeError, match="no document found"):
        tokenize_corpus([tmp_path / "empty.txt"], tmp_path / "none", **quiet())


def test_parquet_without_the_text_column_is_an_error(tmp_path):
    pq.write_table(pa.table({"content": ["a", "b"]}), tmp_path / "x.parquet")
    with pytest.raises(
        TokenizeError, match=r"no column 'text'.*\['content'\].*--text-column"
    ):
        tokenize_corpus([tmp_path / "x.parquet"], tmp_path / "out", **quiet())
    m = tokenize_corpus(
        [tmp_path / "x.parquet"],
        tmp_path / "out",
        text_column="content",
        val_fraction=0.0,
        **quiet(),
    )
    assert m["documents"]["train"] == 2
    (tmp_path / "fake.parquet").write_text("not parquet")
    with pytest.raises(TokenizeError, match="not a readable parquet file"):
        tokenize_corpus([tmp_path / "fake.parquet"], tmp_path / "o2", **quiet())
    (tmp_path / "fake.parquet.bak").write_text("backup")
    with pytest.raises(TokenizeError, match="unsupported input type"):
        tokenize_corpus([tmp_path / "fake.parquet.bak"], tmp_path / "o3", **quiet())


def test_txt_modes(tmp_path):
    (tmp_path / "t.txt").write_text("one\ntwo\n\n\nthree\nfour\n", encoding="utf-8")
    expected = {
        "file": ["one\ntwo\n\n\nthree\nfour\n"],
        "line": ["one", "two", "three", "four"],
        "paragraph": ["one\ntwo", "three\nfour"],
    }
    for mode, docs in expected.items():
        out = tmp_path / mode
        tokenize_corpus(
            [tmp_path / "t.txt"], out, txt_mode=mode, val_fraction=0, **quiet()
        )
        assert [
            TINY.decode(d.tolist()) for d in read_split(out, "corpus", "train")
        ] == docs


def test_interrupted_run_leaves_whole_shards_and_resumes(tmp_path, monkeypatch):
    src = write_jsonl(tmp_path / "in.jsonl", DOCS)
    kwargs = dict(shard_tokens=200, val_fraction=0.2, **quiet())
    tokenize_corpus([src], tmp_path / "clean", **kwargs)
    clean = shard_bytes(tmp_path / "clean")

    real_write, calls = tk.write_shard, []

    def dying_write(path, tokens):
        calls.append(path.name)
        if len(calls) == 4:
            raise KeyboardInterrupt  # killed while writing the 4th shard
        return real_write(path, tokens)

    monkeypatch.setattr(tk, "write_shard", dying_write)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        tokenize_corpus([src], out, **kwargs)
    partial = shard_bytes(out)
    assert len(partial) == 3 and all(
        clean[name] == data for name, data in partial.items()
    )
    assert not json.loads((out / "corpus_tokenize.json").read_text())["complete"]

    monkeypatch.setattr(tk, "write_shard", real_write)
    encoded = []
    real_encode = tk.encode_document
    monkeypatch.setattr(
        tk,
        "encode_document",
        lambda enc, text: encoded.append(text) or real_encode(enc, text),
    )
    logs = []
    tokenize_corpus([src], out, **{**kwargs, "log": logs.append})
    assert any("resuming: 3 shard(s)" in line for line in logs)
    assert shard_bytes(out) == clean  # identical to an uninterrupted run
    assert 0 < len(encoded) < len(DOCS)  # documents already written: not re-encoded


def test_rerun_is_a_no_op_and_other_options_need_overwrite(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", DOCS)
    out = tmp_path / "out"
    tokenize_corpus([src], out, shard_tokens=100, **quiet())
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.bin")}
    logs = []
    tokenize_corpus([src], out, shard_tokens=100, **{**quiet(), "log": logs.append})
    assert any("nothing to do" in line for line in logs)
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.bin")} == before

    with pytest.raises(TokenizeError, match="--overwrite"):
        tokenize_corpus([src], out, shard_tokens=400, **quiet())
    tokenize_corpus([src], out, shard_tokens=400, overwrite=True, **quiet())
    after = sorted(p.name for p in out.glob("*.bin"))
    assert len(after) < len(before)  # old, smaller shards are gone
    assert all(read_header(out / name) <= 400 for name in after)


def test_command_line_and_hub_input(tmp_path, monkeypatch, capsys):
    import huggingface_hub

    hub_dir = tmp_path / "hub"
    for i in range(3):
        path = hub_dir / "sample" / "10BT" / f"{i:03d}_00000.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"text": DOCS[i * 20 : (i + 1) * 20]}), path)
    names = ["README.md", *(f"sample/10BT/{i:03d}_00000.parquet" for i in range(3))]
    monkeypatch.setattr(huggingface_hub, "list_repo_files", lambda *a, **k: names)
    fetched = []

    def fake_download(repo_id, filename, repo_type=None, revision=None, local_dir=None):
        assert repo_id == "someone/edu" and repo_type == "dataset"
        fetched.append(filename)
        return str(hub_dir / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    monkeypatch.setattr(tk, "load_encoding", lambda name: TINY)
    code = tk.main(
        [
            "--hf-dataset",
            "someone/edu",
            "--hf-files",
            "sample/10BT/*.parquet",
            "--hf-max-files",
            "2",
            "--out",
            str(tmp_path / "out"),
            "--prefix",
            "edu",
            "--val-tokens",
            "50",
            "--workers",
            "1",
            "--no-progress",
        ]
    )
    assert code == 0
    assert fetched == ["sample/10BT/000_00000.parquet", "sample/10BT/001_00000.parquet"]
    out = capsys.readouterr().out
    assert "train:" in out and "skipped: none" in out
    docs = read_split(tmp_path / "out", "edu", "val") + read_split(
        tmp_path / "out", "edu", "train"
    )
    assert [TINY.decode(d.tolist()) for d in docs] == DOCS[:40]

    monkeypatch.setattr(
        huggingface_hub,
        "list_repo_files",
        lambda *a, **k: (_ for _ in ()).throw(ConnectionError("offline")),
    )
    code = tk.main(["--hf-dataset", "someone/edu", "--out", str(tmp_path / "o2")])
    assert code == 2 and "cannot list the files" in capsys.readouterr().err


@pytest.fixture
def gpt2(monkeypatch):
    cache = os.environ.get("TIKTOKEN_CACHE_DIR")
    if not cache and SHARED_CACHE.is_dir():
        cache = str(SHARED_CACHE)
        monkeypatch.setenv("TIKTOKEN_CACHE_DIR", cache)
    if not cache or not Path(cache).is_dir() or not any(Path(cache).iterdir()):
        pytest.skip(
            "the GPT-2 BPE files are not available offline: set "
            "TIKTOKEN_CACHE_DIR to ../shared/tiktoken_cache"
        )
    try:
        return tiktoken.get_encoding("gpt2")
    except Exception as error:  # cache incomplete and no network
        pytest.skip(f"tiktoken cannot load gpt2 offline ({error})")


def test_round_trip_with_the_real_gpt2_encoding(tmp_path, gpt2):
    src = write_jsonl(tmp_path / "in.jsonl", DOCS)
    tokenize_corpus(
        [src],
        tmp_path / "out",
        encoding="gpt2",
        shard_tokens=128,
        val_fraction=0.0,
        workers=2,
        progress=False,
        log=lambda m: None,
    )
    files = sorted((tmp_path / "out").glob("corpus_train_*.bin"))
    tokens = np.concatenate([np.asarray(open_shard(f)) for f in files]).tolist()
    expected = []
    for doc in DOCS:
        expected += [gpt2.eot_token, *gpt2.encode_ordinary(doc)]
    assert tokens == expected
    assert gpt2.decode(tokens).split("<|endoftext|>")[1:5] == [
        DOCS[0],
        DOCS[1],
        DOCS[2],
        DOCS[3].split("<|endoftext|>")[0],
    ]
