"""The local_shards and fineweb_edu datasets, folder sources, and the
objective's check that val_tokens fits the validation file."""

import json
import re
import time
import warnings
from pathlib import Path

import huggingface_hub
import numpy as np
import pytest

from benchmark_tools.components import load_benchmark_module
from benchmark_utils.data.errors import DataWarning
from benchmark_utils.data.loader import BatchLoader
from benchmark_utils.data.shards import ShardError, TokenRangeError, write_shard
from benchmark_utils.data.sources import LocalShardSource, folder_source
from benchmark_utils.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
SOTU = ROOT.parent / "shared" / "data" / "sotu"
BOS = 50256


@pytest.fixture(autouse=True)
def scan_cache(tmp_path, monkeypatch):
    """Token-id scans are cached per test, not in the user's cache."""
    monkeypatch.setenv("NANOGPT_BENCH_CACHE", str(tmp_path / "scan-cache"))


def docs_tokens(n_tokens, seed=0):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 50000, n_tokens)
    tokens[::97] = BOS  # a document every 97 tokens
    return tokens


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    write_shard(folder / "my_val_000000.bin", docs_tokens(3000))
    for i in (1, 2, 10):  # natural order: 1, 2, 10
        write_shard(folder / f"my_train_{i}.bin", docs_tokens(2000, seed=i))
    return folder


def test_folder_source_finds_orders_and_validates(corpus):
    source = folder_source(corpus)
    assert source.val_file().name == "my_val_000000.bin"
    names = [p.name for p in source.train_files(5000)]
    assert names == ["my_train_1.bin", "my_train_2.bin", "my_train_10.bin"]
    assert (source.vocab_size, source.bos_token, source.target) == (50257, BOS, None)
    with pytest.raises(ValueError, match="repeat_data=True"):
        source.train_files(6001)
    repeating = folder_source(corpus, repeat_data=True)
    assert len(repeating.train_files(10**9)) == 3 and repeating.repeat_data


def test_folder_source_parameters_and_errors(corpus, tmp_path):
    only_two = folder_source(
        corpus, train_pattern="my_train_?.bin", val_file="my_train_10.bin"
    )
    assert only_two.val_file().name == "my_train_10.bin"
    assert [p.name for p in only_two.train_files(1)] == [
        "my_train_1.bin",
        "my_train_2.bin",
    ]
    # the validation file is never a training file
    source = folder_source(corpus, train_pattern="*.bin", val_file="my_val_000000.bin")
    assert "my_val_000000.bin" not in [p.name for p in source.train_files(1)]

    with pytest.raises(
        FileNotFoundError, match="(?s)does not exist.*benchmark_tools.tokenizer"
    ):
        folder_source(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="matches 4"):
        folder_source(corpus, val_file="*.bin")
    with pytest.raises(ShardError, match="nope.bin: validation file not found"):
        folder_source(corpus, val_file="nope.bin")
    with pytest.raises(ValueError, match=r"no training shard matches .*\*\.txt"):
        folder_source(corpus, train_pattern="*.txt")
    (corpus / "my_train_3.bin").write_bytes(b"garbage" * 10)
    with pytest.raises(ShardError, match="my_train_3.bin"):
        folder_source(corpus)


def test_tokenizer_manifest_sets_vocab_and_bos(corpus, tmp_path):
    (corpus / "my_tokenize.json").write_text(
        json.dumps({"n_vocab": 300, "bos_token": 299})
    )
    source = folder_source(corpus)
    assert (source.vocab_size, source.bos_token) == (300, 299)
    # the corpus holds GPT-2 ids: they disagree with the manifest
    with pytest.raises(TokenRangeError, match=r"\(n_vocab in my_tokenize.json\)"):
        source.val_file()
    small = tmp_path / "small"
    write_shard(small / "s_val_000000.bin", [299, 1, 2, 299, 3])
    write_shard(small / "s_train_000001.bin", [299, 4, 5, 298, 299, 6])
    (small / "s_tokenize.json").write_text(
        json.dumps({"n_vocab": 300, "bos_token": 299, "complete": True})
    )
    source = folder_source(small)
    assert source.val_file().name == "s_val_000000.bin"
    assert len(source.train_files(6)) == 1


def test_local_shards_dataset(corpus, monkeypatch):
    Dataset = load_benchmark_module("datasets/local_shards.py").Dataset
    assert Dataset.name == "local_shards"
    dataset = Dataset.get_instance(folder=str(corpus), repeat_data=True, target=3.5)
    source = dataset.get_data()["source"]
    assert isinstance(source, LocalShardSource)
    assert (source.name, source.target, source.repeat_data) == (
        "local_shards",
        3.5,
        True,
    )
    # relative folders start at the benchmark folder
    relative = Dataset.get_instance(folder="some/where")
    assert relative.resolved_folder() == ROOT / "some" / "where"
    with pytest.raises(FileNotFoundError, match="local_shards: the shard folder"):
        relative.get_data()


def test_hub_datasets_do_not_download_in_get_data(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("get_data must not download")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)
    edu = load_benchmark_module("datasets/fineweb_edu.py").Dataset.get_instance()
    source = edu.get_data()["source"]
    assert (source.repo_id, source.prefix, source.n_train_shards) == (
        "kjj0/finewebedu10B-gpt2",
        "finewebedu",
        99,
    )
    assert source.target is None  # no standard target: the whole budget
    fineweb = load_benchmark_module("datasets/fineweb.py").Dataset.get_instance()
    assert fineweb.get_data()["source"].target == 3.28


def objective(**params):
    Objective = load_benchmark_module("objective.py").Objective
    defaults = dict(
        model="gpt2-tiny",
        seq_len=64,
        batch_tokens=1024,
        max_steps=4,
        micro_batch_size=8,
        device="cpu",
        compile=False,
        data_order="contiguous",
    )
    return Objective.get_instance(**{**defaults, **params})


def prepare(obj, source):
    """What benchopt does: ``skip`` (every check, one message), then
    ``set_data``."""
    skip, reason = obj.skip(source)
    assert not skip, reason
    obj.set_data(source)
    return obj


def test_objective_rejects_val_tokens_beyond_the_validation_file(corpus):
    source = folder_source(corpus)  # validation file: 3,000 tokens
    obj = objective(val_tokens=3000)
    skip, reason = obj.skip(source)
    assert skip
    assert re.search(r"does not fit the validation file.*at most 2,999", reason)
    obj = prepare(objective(val_tokens=2999), source)
    assert obj.val_data.numel() == (2999 // 64) * 64 + 1


@pytest.mark.skipif(
    not SOTU.is_dir(), reason="the SOTU corpus (../shared/data/sotu) is not present"
)
def test_sotu_validation_budget():
    source = folder_source(SOTU, repeat_data=True)
    skip, reason = objective(val_tokens=166_586).skip(source)
    assert skip and "166,586 tokens" in reason
    obj = objective(val_tokens=131_072, seq_len=1024, micro_batch_size=1)
    prepare(obj, source)
    assert len(source.train_files(10**8)) == 1  # repeat_data: epochs


def test_bos_aligned_budget_fetches_enough_shards(tmp_path):
    """BOS-aligned sequences skip document tails: the objective asks the
    source for more than max_steps x batch_tokens tokens, so the run cannot
    run out of data half-way."""
    folder = tmp_path / "docs"
    write_shard(folder / "d_val_000000.bin", docs_tokens(3000))
    for i in range(1, 9):
        write_shard(folder / f"d_train_{i:06d}.bin", docs_tokens(2000, seed=i))
    source = folder_source(folder)
    aligned = objective(
        val_tokens=1024, seq_len=64, max_steps=4, data_order="bos_aligned"
    )
    prepare(aligned, source)
    files = aligned._fetch_train_files()
    loader = BatchLoader(
        files, 8, 64, order="bos_aligned", batch_tokens=512, bos_token=BOS
    )
    for _ in range(4 * 2):  # every micro-batch of the budget exists
        x, _ = loader.next_batch()
        assert (x[:, 0] == BOS).all()
    # 12 steps fit the 16,000 tokens contiguously but not BOS-aligned (a
    # document every 97 tokens: 64 of each 97 tokens are used).
    too_big = objective(
        val_tokens=1024, seq_len=64, max_steps=12, data_order="bos_aligned"
    )
    prepare(too_big, source)
    assert len(too_big.source.train_files(12 * 1024 + 1)) == 8
    with pytest.raises(ValueError, match="repeat_data"):
        too_big._fetch_train_files()


@pytest.mark.parametrize("kind", ["directory", "dangling link"])
def test_anything_matching_the_pattern_that_is_not_a_shard_is_an_error(corpus, kind):
    """Never skipped (training would silently start at the next shard): an
    error that names it and says what it is."""
    odd = corpus / "my_train_3.bin"
    if kind == "directory":
        odd.mkdir()
        message = "my_train_3.bin: is a directory, not a shard file"
    else:
        odd.symlink_to(corpus / "elsewhere.bin")
        message = "my_train_3.bin: a symbolic link to .*elsewhere.bin, which does"
    with pytest.raises(ShardError, match=message) as info:
        folder_source(corpus)
    assert isinstance(info.value, UserError)
    assert "file not found" not in str(info.value)


def test_gap_in_the_numbering_is_a_warning_naming_it(corpus):
    with pytest.warns(DataWarning, match=r"my_train_\*\.bin: number\(s\) 3, 4, 5, 6"):
        source = folder_source(corpus)  # shards 1, 2, 10
    assert len(source.train_files(1)) == 3
    for i in range(3, 10):
        write_shard(corpus / f"my_train_{i}.bin", docs_tokens(100, seed=i))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        folder_source(corpus)  # 1..10: nothing to say


def test_two_corpora_in_one_folder_are_a_warning_naming_them(tmp_path):
    folder = tmp_path / "mixed"
    write_shard(folder / "a_val_000000.bin", docs_tokens(500))
    write_shard(folder / "a_train_000001.bin", docs_tokens(500))
    write_shard(folder / "b_train_000001.bin", docs_tokens(500))
    with pytest.warns(DataWarning, match=r"2 different name prefixes \(a_train_\*"):
        folder_source(folder)
    # one prefix, but two manifests that describe different inputs
    other = tmp_path / "other"
    write_shard(other / "a_val_000000.bin", docs_tokens(500))
    write_shard(other / "a_train_000001.bin", docs_tokens(500))
    for name, source in (("a", "x.jsonl"), ("a_train", "y.jsonl")):
        manifest = {"n_vocab": 50257, "bos_token": BOS, "complete": True}
        manifest["fingerprint"] = {"inputs": [[source, 1, 2]]}
        (other / f"{name}_tokenize.json").write_text(json.dumps(manifest))
    with pytest.warns(DataWarning, match="a_tokenize.json, a_train_tokenize.json"):
        folder_source(other)


def test_changed_data_changes_the_cache_key(corpus, monkeypatch):
    """benchopt's cache key of a ``local_shards`` run covers the files it
    reads: a shard replaced, rewritten in place, added or removed gives a
    new key (the run trains again); the same files give the same key."""
    import joblib
    from benchopt.benchmark import Benchmark

    benchmark = Benchmark(ROOT)  # loads the dataset as benchopt run does
    (Dataset,) = [d for d in benchmark.get_datasets() if d.name == "local_shards"]

    def key():
        return joblib.hash(Dataset.get_instance(folder=str(corpus)))

    first = key()
    assert key() == first
    shard = corpus / "my_train_2.bin"
    write_shard(shard, docs_tokens(2000, seed=99))  # replaced: same size
    replaced = key()
    assert replaced != first
    time.sleep(0.05)  # past the file system's timestamp granularity
    with open(shard, "r+b") as f:  # rewritten in place, same size and inode
        f.seek(2000)
        f.write(b"\x01\x00")
    assert key() not in (first, replaced)
    rewritten = key()
    write_shard(corpus / "my_train_11.bin", docs_tokens(100))
    assert key() != rewritten
    (corpus / "notes.txt").write_text("not read by the dataset")
    assert key() == key()
