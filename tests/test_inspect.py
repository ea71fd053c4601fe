"""The shard inspector on shards whose content is known."""

import json
from pathlib import Path

import pytest
import tiktoken

from benchmark_tools import inspect_shards as ins
from benchmark_utils.data.shards import write_shard

BOS = 50256
SOTU = Path(__file__).resolve().parents[2] / "shared" / "data" / "sotu"


def byte_encoding():
    """Bytes 0..255 and <|endoftext|> = 50256 (ids as in GPT-2 shards)."""
    return tiktoken.Encoding(
        name="bytes-test",
        pat_str=r"\S+|\s+",
        mergeable_ranks={bytes([i]): i for i in range(256)},
        special_tokens={"<|endoftext|>": BOS},
    )


def doc(text):
    return [BOS, *text.encode()]


@pytest.fixture
def folder(tmp_path):
    """train: documents of lengths 6, 4, 11 (split over two shards), 3;
    val: 2 documents; plus a corrupt file."""
    train = doc("hello") + doc("abc") + doc("the middle") + doc("zz")
    assert len(train) == 6 + 4 + 11 + 3
    cut = 6 + 4 + 5  # inside "the middle"
    write_shard(tmp_path / "toy_train_000001.bin", train[:cut])
    write_shard(tmp_path / "toy_train_000002.bin", train[cut:])
    write_shard(tmp_path / "toy_val_000000.bin", doc("aaaa") + doc("b"))
    return tmp_path


def test_report_on_known_shards(folder, tmp_path):
    paths = sorted(folder.glob("*.bin"))
    report = ins.inspect(
        paths,
        encoding=byte_encoding(),
        n_samples=2,
        sample_tokens=4,
        top=3,
        plot=tmp_path / "plots" / "lengths.png",
        seq_len=5,
    )
    files = {Path(f["file"]).name: f for f in report["files"]}
    first = files["toy_train_000001.bin"]
    assert (first["magic"], first["version"], first["header_tokens"]) == (
        20240520,
        1,
        15,
    )
    assert first["bytes"] == 1024 + 2 * 15 and first["documents"] == 3
    assert files["toy_train_000002.bin"]["documents"] == 1  # starts mid-document
    assert first["max_token_id"] == BOS

    train = report["streams"]["toy_train"]
    assert (train["files"], train["tokens"], train["documents"]) == (2, 24, 4)
    assert train["leading_partial_tokens"] == 0
    length = train["length"]
    assert (length["min"], length["max"], length["p50"]) == (3, 11, 5.0)
    assert length["mean"] == pytest.approx(24 / 4)
    assert train["shorter_than_5"] == pytest.approx(0.5)  # 4 and 3
    val = report["streams"]["toy_val"]
    assert (val["documents"], val["length"]["max"]) == (2, 5)
    total = report["total"]
    assert (total["tokens"], total["documents"], total["bad_files"]) == (31, 6, 0)

    top = report["top_tokens"]
    assert top[0] == {
        "id": BOS,
        "count": 6,
        "share": pytest.approx(6 / 31),
        "text": "<|endoftext|>",
    }
    assert (top[1]["text"], top[1]["count"]) == ("a", 5)  # abc, aaaa

    samples = report["samples"]
    assert [s["text"] for s in samples] == ["<|endoftext|>hell", "<|endoftext|>zz"]
    assert samples[1]["file"] == "toy_train_000002.bin"

    png = Path(report["plot"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    text = ins.format_report(report)
    assert "stream toy_train: 2 file(s), 24 tokens, 4 documents" in text
    assert "'<|endoftext|>hell'" in text


def test_leading_partial_document_and_bad_file(tmp_path, capsys):
    write_shard(tmp_path / "x_train_000007.bin", [5, 6, 7] + doc("ab"))
    (tmp_path / "x_train_000008.bin").write_bytes(b"\x00" * 100)
    report = ins.inspect(sorted(tmp_path.glob("*.bin")), encoding=None)
    stream = report["streams"]["x_train"]
    assert stream["leading_partial_tokens"] == 3 and stream["documents"] == 1
    assert report["total"]["bad_files"] == 1
    bad = [f for f in report["files"] if "error" in f][0]
    assert "truncated header" in bad["error"]
    assert "text" not in report["samples"][0]  # no decoding: ids only
    assert report["samples"][0]["ids"] == doc("ab")

    code = ins.main([str(tmp_path), "--encoding", "none", "--json"])
    assert code == 1  # an invalid file
    parsed = json.loads(capsys.readouterr().out)
    assert parsed["total"]["tokens"] == 6
    assert ins.main([str(tmp_path / "missing")]) == 2


def test_command_line_text_output(folder, capsys, monkeypatch):
    monkeypatch.setattr(ins, "load_decoder", lambda enc: (None, "decoding disabled"))
    code = ins.main([str(folder / "toy_val_000000.bin"), "--top", "2"])
    out = capsys.readouterr().out
    assert code == 0
    assert "toy_val_000000.bin: magic 20240520, version 1, header tokens 7" in out
    assert "2 documents" in out and "most frequent tokens:" in out


@pytest.mark.skipif(
    not SOTU.is_dir(), reason="the SOTU corpus (../shared/data/sotu) is not present"
)
def test_sotu_counts_match_its_manifest():
    report = ins.inspect(sorted(SOTU.glob("*.bin")), encoding=None, top=1)
    assert report["streams"]["sotu_val"]["tokens"] == 166_586
    assert report["streams"]["sotu_val"]["documents"] == 23
    assert report["streams"]["sotu_train"]["documents"] == 210
    assert report["total"]["tokens"] == 2_074_301
