"""Bad input never becomes a crash or a silent wrong result: each test feeds
one row of the fault catalogue (bad token ids, an unfinished tokenization,
missing data offline, a dead hub, a full disk, wrong settings) and checks the
message and that nothing already written is damaged."""

import errno
import json
import logging
import os
from pathlib import Path

import huggingface_hub
import huggingface_hub.constants
import numpy as np
import pytest
import tiktoken
import torch

from benchmark_tools import inspect_shards as ins
from benchmark_tools import tokenizer as tk
from benchmark_tools.components import load_benchmark_module
from benchmark_utils.data import hub, shards
from benchmark_utils.data.hub import HubShardSource, MissingDataError
from benchmark_utils.data.shards import (
    ScanCache,
    TokenRangeError,
    check_token_ids,
    first_out_of_range,
    write_shard,
)
from benchmark_utils.data.sources import IncompleteCorpusError, folder_source
from benchmark_utils.settings import (
    check_parameter_types,
    check_problem,
    check_val_tokens,
)

BOS = 50256


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """Every test gets its own scan cache, outside the shard folders."""
    folder = tmp_path / "scan-cache"
    monkeypatch.setenv("NANOGPT_BENCH_CACHE", str(folder))
    return folder


def tokens(n, seed=0):
    rng = np.random.default_rng(seed)
    out = rng.integers(0, 50000, n)
    out[::50] = BOS
    return out


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir())}


@pytest.fixture
def bad_folder(tmp_path):
    """val fine; train 1 fine; train 2 holds 60000 at token index 1234."""
    folder = tmp_path / "shards"
    write_shard(folder / "my_val_000000.bin", tokens(3000))
    write_shard(folder / "my_train_000001.bin", tokens(2000, 1))
    bad = tokens(2000, 2)
    bad[1234] = 60000
    bad[1500] = 65000  # a later bad id: the first one is reported
    write_shard(folder / "my_train_000002.bin", bad)
    return folder


# -- row 1: token ids outside the vocabulary ---------------------------------


def test_out_of_vocabulary_id_fails_when_the_files_are_asked_for(bad_folder):
    before = snapshot(bad_folder)
    source = folder_source(bad_folder)  # headers only: nothing scanned yet
    assert source.val_file().name == "my_val_000000.bin"
    with pytest.raises(TokenRangeError) as info:
        source.train_files(1500)  # a local source hands over all its shards
    message = str(info.value)
    print(message)
    assert str(bad_folder / "my_train_000002.bin") in message
    assert "token id 60,000 at token index 1,234" in message
    assert "vocabulary of 50,257 ids (GPT-2)" in message
    assert "python -m benchmark_tools.tokenizer" in message
    assert (info.value.position, info.value.value) == (1234, 60000)
    assert isinstance(info.value, shards.ShardError)
    assert snapshot(bad_folder) == before  # nothing touched, nothing added
    with pytest.raises(TokenRangeError):
        source.require(3000)


@pytest.mark.parametrize("value", [50257, 50303])
def test_padding_ids_are_refused_too(tmp_path, value):
    bad = tokens(500)
    bad[7] = value
    path = write_shard(tmp_path / "x_train_000001.bin", bad)
    with pytest.raises(TokenRangeError) as info:
        check_token_ids(path, 50257, "GPT-2")
    print(info.value)
    assert f"token id {value:,} at token index 7" in str(info.value)
    assert "ids 50,257..50,303 only pad the model's embedding" in str(info.value)


def test_manifest_vocabulary_that_disagrees_with_the_ids(tmp_path):
    folder = tmp_path / "shards"
    write_shard(folder / "my_val_000000.bin", [299, 5, 6, 299, 7])
    write_shard(folder / "my_train_000001.bin", [299, 1, 2, 3, 4, 301, 299])
    (folder / "my_tokenize.json").write_text(
        json.dumps({"n_vocab": 300, "bos_token": 299, "complete": True})
    )
    source = folder_source(folder)
    assert (source.vocab_size, source.bos_token) == (300, 299)
    source.val_file()
    with pytest.raises(TokenRangeError) as info:
        source.train_files(5)
    print(info.value)
    assert "token id 301 at token index 5" in str(info.value)
    assert "vocabulary of 300 ids (n_vocab in my_tokenize.json)" in str(info.value)
    assert "fix n_vocab in the folder's *_tokenize.json" in str(info.value)


@pytest.mark.parametrize(
    "manifest, message",
    [
        ("{not json", "cannot read the tokenizer manifest"),
        ('{"n_vocab": "lots", "bos_token": 1}', "n_vocab='lots', not an integer"),
        ('{"n_vocab": 100000, "bos_token": 1}', "n_vocab=100000"),
        ('{"n_vocab": 300, "bos_token": 300}', "bos_token=300, outside"),
    ],
)
def test_unusable_manifest_is_an_error_not_a_silent_default(
    tmp_path, manifest, message
):
    folder = tmp_path / "shards"
    write_shard(folder / "my_val_000000.bin", [1, 2, 3])
    write_shard(folder / "my_train_000001.bin", [1, 2, 3])
    (folder / "my_tokenize.json").write_text(manifest)
    with pytest.raises(ValueError, match=message):
        folder_source(folder)


def test_scan_is_chunked_and_finds_the_first_bad_id(tmp_path):
    ids = np.arange(1000) % 50
    ids[[517, 900]] = [70, 90]
    assert first_out_of_range(ids, 60, chunk_tokens=64) == (517, 70)
    assert first_out_of_range(ids, 100, chunk_tokens=64) is None
    path = write_shard(tmp_path / "a.bin", ids)
    assert shards.scan_tokens(path, 60, chunk_tokens=64) == (90, (517, 70))
    assert shards.scan_tokens(path, 100, chunk_tokens=7) == (90, None)
    assert [len(c) for _, c in shards.token_chunks(path, 300)] == [300] * 3 + [100]
    empty = write_shard(tmp_path / "e.bin", [])
    assert shards.scan_tokens(empty, 10) == (-1, None)


def test_scan_result_is_cached_per_file(tmp_path, cache, monkeypatch):
    path = write_shard(tmp_path / "d" / "a_train_000001.bin", tokens(5000))
    scans = []
    real = shards.scan_tokens
    monkeypatch.setattr(
        shards, "scan_tokens", lambda *a, **k: scans.append(1) or real(*a, **k)
    )
    assert check_token_ids(path, 50257) == 5000
    assert check_token_ids(path, 50257) == 5000
    assert len(scans) == 1  # the second check costs nothing
    entries = json.loads((cache / "token_ranges.json").read_text())
    assert list(entries) == [str(path.resolve())]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no cache there

    # each check reads the cache from disk (as a new process would)
    check_token_ids(path, 50257)
    assert len(scans) == 1
    # the file changes (size or mtime): scanned again, and the bad id is found
    bad = tokens(5000)
    bad[4999] = 50300
    write_shard(path, bad)
    with pytest.raises(TokenRangeError, match="at token index 4,999"):
        check_token_ids(path, 50257)
    assert len(scans) == 2


def test_corrupt_or_unwritable_cache_never_fails_a_run(tmp_path, cache, monkeypatch):
    path = write_shard(tmp_path / "a.bin", tokens(100))
    cache.mkdir()
    (cache / "token_ranges.json").write_text("{garbage")
    assert check_token_ids(path, 50257) == 100
    assert str(path.resolve()) in json.loads((cache / "token_ranges.json").read_text())
    # an entry claiming a bad id that the file does not hold: rescanned, fixed
    name, stamp = ScanCache.key(path)
    (cache / "token_ranges.json").write_text(json.dumps({name: [*stamp, 60000]}))
    assert check_token_ids(path, 50257) == 100
    # a cache folder that cannot be created (a file is in the way)
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    monkeypatch.setenv("NANOGPT_BENCH_CACHE", str(blocker / "cache"))
    assert check_token_ids(path, 50257) == 100
    bad = tokens(100)
    bad[3] = 60000
    write_shard(path, bad)
    with pytest.raises(TokenRangeError):
        check_token_ids(path, 50257)
    assert list(tmp_path.glob("*.tmp*")) == []


def test_hub_source_checks_its_files(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    local = tmp_path / "fw"
    write_shard(local / "toy_val_000000.bin", tokens(3000))
    bad = tokens(3000)
    bad[10] = 60000
    write_shard(local / "toy_train_000001.bin", bad)
    source = HubShardSource("someone/toy", "toy", 5, local, name="toy")
    assert source.val_file().name == "toy_val_000000.bin"
    with pytest.raises(TokenRangeError, match="token id 60,000 at token index 10"):
        source.require(2000)
    assert (local / "toy_train_000001.bin").exists()  # kept: the user decides


def test_inspector_reports_the_bad_id_and_exits_1(bad_folder, capsys):
    code = ins.main([str(bad_folder), "--encoding", "none"])
    out, err = capsys.readouterr()
    print(out, err)
    assert code == 1
    assert "max token id 65000" in out
    assert "INVALID: token id 60,000 at token index 1,234" in out
    assert "(1 invalid)" in out
    assert "error: " in err and "my_train_000002.bin" in err
    assert ins.main([str(bad_folder / "my_val_000000.bin"), "--encoding", "none"]) == 0
    capsys.readouterr()
    # --vocab: the check follows the vocabulary given
    assert ins.main([str(bad_folder), "--encoding", "none", "--vocab", "65536"]) == 0


# -- row 2: an unfinished tokenization -------------------------------------


def tiny_encoding():
    ranks = {bytes([i]): i for i in range(256)}
    return tiktoken.Encoding(
        name="tiny-test",
        pat_str=r"\S+|\s+",
        mergeable_ranks=ranks,
        special_tokens={"<|endoftext|>": 256},
    )


def test_local_shards_refuses_an_unfinished_tokenization(tmp_path, monkeypatch):
    src = tmp_path / "in.jsonl"
    src.write_text(
        "".join(json.dumps({"text": f"document {i} " * 9}) + "\n" for i in range(80))
    )
    out = tmp_path / "corpus"
    argv = [str(src), "--out", str(out), "--prefix", "my", "--shard-tokens", "100"]
    argv += ["--val-tokens", "250", "--workers", "1", "--no-progress"]
    monkeypatch.setattr(tk, "load_encoding", lambda name: tiny_encoding())
    real_write, calls = tk.write_shard, []

    def dying_write(path, toks):
        calls.append(path.name)
        if len(calls) == 5:
            raise KeyboardInterrupt  # killed while writing the 5th shard
        return real_write(path, toks)

    monkeypatch.setattr(tk, "write_shard", dying_write)
    with pytest.raises(KeyboardInterrupt):
        tk.main(argv)
    monkeypatch.setattr(tk, "write_shard", real_write)
    before = snapshot(out)

    Dataset = load_benchmark_module("datasets/local_shards.py").Dataset
    with pytest.raises(IncompleteCorpusError) as info:
        Dataset.get_instance(folder=str(out)).get_data()
    message = str(info.value)
    print(message)
    assert "says the tokenization of" in message and "is incomplete" in message
    assert "python -m benchmark_tools.tokenizer " + str(src) in message
    assert f"--out {out} --prefix my --shard-tokens 100" in message
    assert "shards written so far: 3 val, 1 train" in message
    assert "allow_incomplete=True" in message
    assert snapshot(out) == before

    allowed = Dataset.get_instance(
        folder=str(out), val_file="my_val_000000.bin", allow_incomplete=True
    )
    assert allowed.get_data()["source"].train_files(1)  # explicitly allowed
    with pytest.raises(ValueError, match="allow_incomplete='yes' must be True or"):
        Dataset.get_instance(folder=str(out), allow_incomplete="yes").get_data()

    assert tk.main(argv) == 0  # the resume command of the message
    assert json.loads((out / "my_tokenize.json").read_text())["complete"]
    done = Dataset.get_instance(folder=str(out), val_file="my_val_000000.bin")
    done.get_data()["source"].val_file()


def test_resume_command_rebuilt_for_an_old_manifest(tmp_path):
    folder = tmp_path / "c"
    write_shard(folder / "x_train_000001.bin", [1, 2])
    write_shard(folder / "x_val_000000.bin", [1, 2])
    manifest = {
        "complete": False,
        "n_vocab": 50257,
        "bos_token": 50256,
        "fingerprint": {
            "inputs": [["/data/a.jsonl", 10, 1]],
            "encoding": "gpt2",
            "shard_tokens": 1000,
            "val_fraction": 0.0,
            "val_tokens": 500,
            "text_column": "text",
            "txt_mode": "file",
            "max_docs": None,
        },
        "splits": {"val": {"shards": [{}]}, "train": {"shards": [{}]}},
    }
    (folder / "x_tokenize.json").write_text(json.dumps(manifest))
    with pytest.raises(IncompleteCorpusError) as info:
        folder_source(folder)
    assert (
        "python -m benchmark_tools.tokenizer /data/a.jsonl --out "
        f"{folder} --prefix x --encoding gpt2 --shard-tokens 1000 --val-tokens 500"
    ) in str(info.value)
    assert "shards written so far: 1 val, 1 train" in str(info.value)


# -- rows 3, 4, 5: missing data, offline or behind a dead endpoint ---------


@pytest.fixture
def dead_hub(monkeypatch):
    """A hub whose metadata request (the probe) and downloads are scripted:
    ``hub_calls`` records them; ``probe_error`` / ``download_error`` make them
    fail; both log a retry warning, as huggingface_hub does."""
    monkeypatch.setattr(hub, "TOKENS_PER_SHARD", 1000)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    class Hub:
        calls = []
        probe_error = None
        download_error = None

    def fake_metadata(url, timeout=None, **kwargs):
        Hub.calls.append(("probe", timeout))
        logging.getLogger("huggingface_hub.utils._http").warning(
            "Retrying in 1s [Retry 1/5]."
        )
        if Hub.probe_error:
            raise Hub.probe_error
        return object()

    def fake_download(repo_id, filename, **kwargs):
        constants = huggingface_hub.constants
        Hub.calls.append(("download", filename, constants.HF_HUB_DOWNLOAD_TIMEOUT))
        assert kwargs["etag_timeout"] == hub.ETAG_TIMEOUT
        logging.getLogger("huggingface_hub.file_download").warning("Retrying..")
        raise Hub.download_error

    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", fake_metadata)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    return Hub


def toy(local):
    return HubShardSource(
        "someone/toy", "toy", 50, local, name="toy", log=lambda message: None
    )


def check_one_screen(error, local, files, budget):
    message = str(error)
    print(message)
    assert error.__cause__ is None  # no chained traceback
    assert error.__context__ is None or error.__suppress_context__
    assert error.files == files
    for name in files:
        assert f"\n  {name}\n" in message or message.count(name) >= 1
    assert (
        f"python -m benchmark_tools.download toy --train-tokens {budget} "
        f"--local-dir {local}" in message
    )
    assert "benchopt run . --config configs/cpu_demo.yml" in message
    assert len(message.splitlines()) <= 12
    return message


def test_offline_message_names_only_what_this_run_needs(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "TOKENS_PER_SHARD", 1000)
    local = tmp_path / "fw"
    with pytest.raises(MissingDataError) as info:
        toy(local).require(1501)  # 2 training shards of 1,000 tokens
    files = ["toy_val_000000.bin", "toy_train_000001.bin", "toy_train_000002.bin"]
    message = check_one_screen(info.value, local, files, 1501)
    assert "HF_HUB_OFFLINE is set" in message
    assert not local.exists() or not list(local.iterdir())
    # present files are not listed again
    write_shard(local / "toy_val_000000.bin", tokens(10))
    with pytest.raises(MissingDataError) as info:
        toy(local).require(1501)
    assert info.value.files == files[1:]


def test_no_network_fails_fast_with_one_message(tmp_path, dead_hub, caplog):
    dead_hub.probe_error = ConnectionError("[Errno -2] Name or service not known")
    local = tmp_path / "fw"
    write_shard(local / "toy_train_000001.bin", tokens(1000))  # already here
    level = logging.getLogger("huggingface_hub").level
    with caplog.at_level(logging.WARNING):
        with pytest.raises(MissingDataError) as info:
            toy(local).require(1501)
    message = check_one_screen(
        info.value, local, ["toy_val_000000.bin", "toy_train_000002.bin"], 1501
    )
    assert "cannot reach the hub (ConnectionError: [Errno -2]" in message
    assert "waiting at most 10 s (HF_HUB_ETAG_TIMEOUT) without retries" in message
    assert dead_hub.calls == [("probe", hub.ETAG_TIMEOUT)]  # one request, no download
    assert "Retrying" not in caplog.text  # huggingface_hub's warnings silenced
    assert logging.getLogger("huggingface_hub").level == level  # restored
    assert (local / "toy_train_000001.bin").exists()


def test_unresponsive_endpoint_waits_a_bounded_time(tmp_path, dead_hub, caplog):
    dead_hub.download_error = TimeoutError("The read operation timed out")
    local = tmp_path / "fw"
    with caplog.at_level(logging.WARNING):
        with pytest.raises(MissingDataError) as info:
            toy(local).require(800)
    message = check_one_screen(
        info.value, local, ["toy_val_000000.bin", "toy_train_000001.bin"], 800
    )
    assert "no answer from the hub (TimeoutError: The read operation timed out)" in (
        message
    )
    assert "waiting at most 30 s per stalled read (HF_HUB_DOWNLOAD_TIMEOUT)" in message
    # one probe, one download attempt with the bounded timeout, no retry loop
    assert dead_hub.calls == [
        ("probe", hub.ETAG_TIMEOUT),
        ("download", "toy_val_000000.bin", hub.DOWNLOAD_TIMEOUT),
    ]
    assert huggingface_hub.constants.HF_HUB_DOWNLOAD_TIMEOUT != hub.DOWNLOAD_TIMEOUT
    assert "Retrying" not in caplog.text
    assert not list(local.glob("*"))  # no partial file


def test_timeouts_follow_the_user_settings(monkeypatch):
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "3")
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "nonsense")
    assert (hub.etag_timeout(), hub.download_timeout()) == (3.0, hub.DOWNLOAD_TIMEOUT)


def test_benchopt_dataset_offline_points_to_the_cpu_demo(tmp_path, monkeypatch):
    """``benchopt run . -s muon`` on an offline machine without data: the
    objective's first call, ``source.require``, fails at once."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("NANOGPT_BENCH_DATA", str(tmp_path))
    dataset = load_benchmark_module("datasets/fineweb.py").Dataset.get_instance()
    source = dataset.get_data()["source"]
    with pytest.raises(MissingDataError) as info:
        source.require(6000 * 524_288 + 1)
    message = str(info.value)
    print(message)
    assert "33 file(s) needed" in message and "... and 21 more" in message
    assert "benchopt run . --config configs/cpu_demo.yml" in message
    assert len(message.splitlines()) <= 20


# -- row 6: disk full while tokenizing -------------------------------------


def corpus(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(
        "".join(
            json.dumps({"text": f"doc {i} " * (i % 9 + 3)}) + "\n" for i in range(90)
        )
    )
    return src


def test_disk_full_while_writing_a_shard(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tk, "load_encoding", lambda name: tiny_encoding())
    src = corpus(tmp_path)
    args = ["--shard-tokens", "200", "--val-fraction", "0.2", "--no-progress"]
    assert tk.main([str(src), "--out", str(tmp_path / "clean"), *args]) == 0
    clean = snapshot(tmp_path / "clean")
    capsys.readouterr()

    out = tmp_path / "out"
    real_fsync, calls = os.fsync, []

    def full_disk(fd):
        calls.append(fd)
        if len(calls) == 4:  # the 4th shard's data reached the temp file
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(shards.os, "fsync", full_disk)
    code = tk.main([str(src), "--out", str(out), *args])
    err = capsys.readouterr().err
    print(err)
    assert code == 2
    assert "error: no space left on the device while writing" in err
    assert "bytes needed" in err and "bytes free" in err
    assert "3 complete shard(s) and the manifest are intact" in err
    assert "Traceback" not in err
    assert not [p for p in out.iterdir() if ".tmp" in p.name]
    written = snapshot(out)
    manifest = json.loads(written.pop("corpus_tokenize.json"))
    assert not manifest["complete"]
    assert len(written) == 3 and all(clean[k] == v for k, v in written.items())

    monkeypatch.setattr(shards.os, "fsync", real_fsync)  # space freed
    assert tk.main([str(src), "--out", str(out), *args]) == 0
    assert snapshot(out).keys() == clean.keys()
    assert {k: v for k, v in snapshot(out).items() if k.endswith(".bin")} == {
        k: v for k, v in clean.items() if k.endswith(".bin")
    }


def test_disk_full_while_writing_the_manifest(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tk, "load_encoding", lambda name: tiny_encoding())
    src = corpus(tmp_path)
    out = tmp_path / "out"
    real_write_text, writes = Path.write_text, []

    def full_on_third_manifest(self, data, *a, **k):
        if "_tokenize.json.tmp" in self.name:
            writes.append(self.name)
            if len(writes) == 3:
                real_write_text(self, data[:10])  # a partial temp file
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_write_text(self, data, *a, **k)

    monkeypatch.setattr(Path, "write_text", full_on_third_manifest)
    args = ["--shard-tokens", "200", "--val-fraction", "0.2", "--no-progress"]
    assert tk.main([str(src), "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert "no space left on the device while writing" in err
    assert "corpus_tokenize.json" in err
    assert not [p for p in out.iterdir() if ".tmp" in p.name]
    manifest = json.loads((out / "corpus_tokenize.json").read_text())  # whole
    assert not manifest["complete"]


# -- row 7: settings -------------------------------------------------------

PROBLEM = dict(seq_len=64, batch_tokens=1024, micro_batch_size=8, max_steps=4)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(micro_batch_size=0), "micro_batch_size=0: must be an integer >= 1"),
        (dict(seq_len=0), "seq_len=0: must be an integer >= 1"),
        (dict(max_steps=0), "max_steps=0: must be an integer >= 1 (the step budget)"),
        (dict(batch_tokens=-1024), "batch_tokens=-1024: must be an integer >= 1"),
        (
            dict(batch_tokens=1000),
            "batch_tokens=1000 must be a multiple of seq_len x world_size = "
            "64 x 1 = 64 (whole sequences on every process), e.g. "
            "batch_tokens=960 or batch_tokens=1024",
        ),
        (
            dict(micro_batch_size=5),
            "micro_batch_size=5 does not divide the 16 sequences per process "
            "(batch_tokens 1,024 / (seq_len 64 x world_size 1)): use one of "
            "1, 2, 4, 8, 16",
        ),
        (
            dict(world_size=3, batch_tokens=3 * 64 * 6, micro_batch_size=4),
            "does not divide the 6 sequences per process (batch_tokens 1,152 / "
            "(seq_len 64 x world_size 3)): use one of 1, 2, 3, 6",
        ),
        (dict(val_tokens=10), "val_tokens=10 is shorter than one sequence of"),
        (dict(seq_len=1.5), "seq_len=1.5 (float): must be an integer >= 1"),
        (dict(train_steps=9), "train_steps=9: must lie in 1..max_steps=4"),
    ],
)
def test_check_problem_names_the_parameter_and_its_range(change, message):
    kwargs = {**PROBLEM, "val_tokens": 4096, **change}
    with pytest.raises(ValueError) as info:
        check_problem(**kwargs)
    print(info.value)
    assert message in str(info.value)


def test_check_problem_accepts_valid_settings_and_lists_every_problem():
    assert check_problem(**PROBLEM, val_tokens=4096) == 2  # micro-batches per step
    assert check_problem(**PROBLEM, val_tokens=64, world_size=2, train_steps=4) == 1
    with pytest.raises(ValueError) as info:
        check_problem(seq_len=0, batch_tokens=-1, micro_batch_size=0, max_steps=0,
                      val_tokens=4096)  # fmt: skip
    assert len(str(info.value).splitlines()) == 5  # header + 4 parameters


def test_check_val_tokens():
    with pytest.raises(ValueError) as info:
        check_val_tokens(9, 64, 10, "val.bin")
    print(info.value)
    assert "the validation file val.bin holds 10 tokens: fewer than one sequence" in (
        str(info.value)
    )
    with pytest.raises(ValueError, match=r"use at most 2,999 \(evaluated: whole"):
        check_val_tokens(3000, 64, 3000, "val.bin")
    assert check_val_tokens(2999, 64, 3000, "val.bin") == 46
    # A one-token file: no seq_len fits, and the advice does not pretend one does.
    with pytest.raises(ValueError) as info:
        check_val_tokens(64, 64, 1, "val.bin")
    assert "at most 0" not in str(info.value)
    assert "cannot hold a single prediction" in str(info.value)


MUON = {
    "lr": [0.025],
    "nesterov": [True],
    "ns_steps": [5],
    "adjust_lr_fn": ["original"],
    "adam_betas": [(0.8, 0.95)],
    "warmup": [0],
    "target": [None, 3.0],
}


def test_solver_parameter_types():
    with pytest.raises(ValueError) as info:
        check_parameter_types("muon", MUON, {"lr": "abc"})
    print(info.value)
    assert (
        "solver 'muon': invalid parameter(s):\n  lr='abc' (str) must be a finite "
        'number (default 0.025), e.g. -s "muon[lr=0.025]"' in str(info.value)
    )
    cases = {
        "nesterov": (2, "must be True or False"),
        "adam_betas": (
            0.9,
            "must be a tuple of 2 like (0.8, 0.95) (default (0.8, 0.95)), e.g. -s "
            '"muon[adam_betas=[(0.8, 0.95)]]" (in brackets: a bare tuple',
        ),
        "adjust_lr_fn": (3, "must be a string (default 'original'), e.g. -s \"muon["),
        "lr": (float("nan"), "must be a finite number"),
        "lrr": (0.1, "unknown parameter lrr=0.1; muon's parameters are: "),
    }
    for name, (value, message) in cases.items():
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(
            ")", r"\)").replace("[", r"\[")):  # fmt: skip
            check_parameter_types("muon", MUON, {name: value})
    ok = check_parameter_types(
        "muon",
        MUON,
        {
            "lr": 1,
            "adam_betas": [0.9, 0.99],
            "nesterov": "false",
            "warmup": 0.05,
            "ns_steps": 6,
            "target": None,
        },
    )
    assert ok == {
        "lr": 1.0,
        "adam_betas": (0.9, 0.99),
        "nesterov": False,
        "warmup": 0.05,
        "ns_steps": 6,
        "target": None,
    }
    assert isinstance(ok["lr"], float)
    assert check_parameter_types("x", {"anything": None}, {"anything": "abc"})


# -- the command line shows bad-input errors as one message ----------------


def test_command_line_hook_prints_the_message_without_traceback(tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    script = (
        "from benchmark_utils.errors import Boundary\n"
        "from benchmark_utils.settings import check_problem\n"
        "b = Boundary(); b.install(); b.install()\n"
        "def deep(): check_problem(64, 1024, 0, 4, 4096)\n"
        "deep()\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True
    )
    print(run.stderr)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        "error: invalid objective settings:",
        "  micro_batch_size=0: must be an integer >= 1 (sequences per forward "
        "pass), e.g. micro_batch_size=32",
    ]
    other = subprocess.run(
        [sys.executable, "-c", script.replace("deep()\n", "1 / 0\n")],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert "Traceback" in other.stderr and "ZeroDivisionError" in other.stderr


def test_missing_local_folder_is_missing_data(tmp_path):
    from benchmark_utils.data.sources import MissingFolderError
    from benchmark_utils.errors import UserError

    with pytest.raises(MissingFolderError) as info:
        folder_source(tmp_path / "nowhere")
    assert isinstance(info.value, FileNotFoundError)  # as before
    assert isinstance(info.value, UserError)
    assert "configs/cpu_demo.yml" in str(info.value)


# -- issue 13: the error boundary, before any heavy work ----------------------


def _benchopt(tmp_path, *args, env=None):
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    environ = dict(os.environ, NANOGPT_BENCH_DATA=str(tmp_path / "data"))
    environ.pop("WORLD_SIZE", None)
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "benchopt", "run", str(root), *args]
        + ["--no-plot", "--no-cache", "--output", str(tmp_path / "out" / "r.parquet")],
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


TINY = (
    "nanoGPT validation loss[model=track3-tiny,seq_len=64,batch_tokens=1024,"
    "micro_batch_size=16,val_tokens=4096,train_steps=4,max_steps=4,"
    "eval_every=2,eval_every_final=2,device=cpu{extra}]"
)


def test_a_wrong_objective_setting_is_one_message_before_any_data(tmp_path):
    run = _benchopt(
        tmp_path, "-d", "simulated", "-s", "adamw", "-o",
        TINY.format(extra=",model=nonexistent").replace("model=track3-tiny,", ""),
    )  # fmt: skip
    log = run.stdout + run.stderr
    assert run.returncode == 1, log
    assert "model='nonexistent': choose one of" in log, log
    assert "Traceback" not in log, log
    # Nothing was generated for a run that could not start.
    data = tmp_path / "data"
    assert not data.exists() or not any(data.rglob("*.bin"))


def test_the_full_size_problem_on_a_cpu_is_refused_before_it_starts(tmp_path):
    """-o replaces a config's whole objective: the default (full-size) problem
    on a machine without a GPU is refused with the reason."""
    run = _benchopt(
        tmp_path, "-d", "simulated", "-s", "adamw",
        "-o", "nanoGPT validation loss[micro_batch_size=32]",
    )  # fmt: skip
    log = run.stdout + run.stderr
    assert run.returncode == 1, log
    assert "-o replaces the config's whole objective" in log, log
    assert "Traceback" not in log, log
    data = tmp_path / "data"
    assert not data.exists() or not any(data.rglob("*.bin"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_gpu_config_on_a_machine_without_one_is_one_message(tmp_path):
    """The GPU configs set device=cuda: without a GPU, one message."""
    run = _benchopt(
        tmp_path, "-d", "simulated", "-s", "adamw",
        "-o", TINY.format(extra="").replace("device=cpu", "device=cuda"),
    )  # fmt: skip
    log = run.stdout + run.stderr
    assert run.returncode == 1, log
    assert "torch sees no GPU" in log, log
    assert "Traceback" not in log, log


def test_a_negative_learning_rate_is_one_message(tmp_path):
    run = _benchopt(
        tmp_path, "-d", "simulated", "-s", "adamw[lr=-0.1]", "-o", TINY.format(extra="")
    )
    log = run.stdout + run.stderr
    assert run.returncode == 1, log
    assert "lr=-0.1: must be >= 0" in log, log
    assert "Traceback" not in log, log


def test_benchopt_directly_under_torchrun_refuses_once(tmp_path):
    outputs = []
    for rank in ("0", "1"):
        run = _benchopt(
            tmp_path, "-d", "simulated", "-s", "adamw", "-o", TINY.format(extra=""),
            env={"WORLD_SIZE": "2", "RANK": rank, "LOCAL_RANK": rank},
        )  # fmt: skip
        assert run.returncode != 0
        outputs.append(run.stdout + run.stderr)
    assert "benchmark_utils.launch" in outputs[0] and "Traceback" not in outputs[0]
    assert "benchmark_utils.launch" not in outputs[1]  # rank 0 alone says it
    assert "Loading objective" not in outputs[0].split("error:")[-1]
