"""The local_shards and fineweb_edu datasets, folder sources, and the
objective's check that val_tokens fits the validation file."""

import json
from pathlib import Path

import huggingface_hub
import numpy as np
import pytest

from benchmark_tools.components import load_benchmark_module
from benchmark_utils.loader import BatchLoader
from benchmark_utils.shards import ShardError, TokenRangeError, write_shard
from benchmark_utils.sources import LocalShardSource, folder_source

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
        FileNotFoundError, match="does not exist.*benchmark_utils.tokenize"
    ):
        folder_source(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="matches 4"):
        folder_source(corpus, val_file="*.bin")
    with pytest.raises(FileNotFoundError, match="validation file .*nope.bin not found"):
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


def test_objective_rejects_val_tokens_beyond_the_validation_file(corpus):
    source = folder_source(corpus)  # validation file: 3,000 tokens
    obj = objective(val_tokens=3000)
    with pytest.raises(
        ValueError, match=r"does not fit the validation file.*at most 2,999"
    ):
        obj.set_data(source)
    obj = objective(val_tokens=2999)
    obj.set_data(source)
    assert obj.val_data.numel() == (2999 // 64) * 64 + 1


@pytest.mark.skipif(
    not SOTU.is_dir(), reason="the SOTU corpus (../shared/data/sotu) is not present"
)
def test_sotu_validation_budget():
    source = folder_source(SOTU, repeat_data=True)
    with pytest.raises(ValueError, match="166,586 tokens"):
        objective(val_tokens=166_586).set_data(source)
    obj = objective(val_tokens=131_072, seq_len=1024, micro_batch_size=1)
    obj.set_data(source)
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
    aligned.set_data(source)
    files = aligned._fetch_train_files()
    loader = BatchLoader(files, 8, 64, bos_aligned=True, bos_token=BOS)
    for _ in range(4 * 2):  # every micro-batch of the budget exists
        x, _ = loader.next_batch()
        assert (x[:, 0] == BOS).all()
    # 12 steps fit the 16,000 tokens contiguously but not BOS-aligned (a
    # document every 97 tokens: 64 of each 97 tokens are used).
    too_big = objective(
        val_tokens=1024, seq_len=64, max_steps=12, data_order="bos_aligned"
    )
    too_big.set_data(source)
    assert len(too_big.source.train_files(12 * 1024 + 1)) == 8
    with pytest.raises(ValueError, match="repeat_data"):
        too_big._fetch_train_files()
