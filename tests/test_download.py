"""Budget-aware, validated downloads, with ``hf_hub_download`` replaced by
a function that copies files from a local "remote" folder as the real one
does (complete files only: an interrupted transfer stays in its temporary
file), and the hub's metadata request, the reachability probe, by one that
answers."""

import shutil
from pathlib import Path

import huggingface_hub
import numpy as np
import pytest

from benchmark_tools import download
from benchmark_tools.components import load_benchmark_module
from benchmark_utils.data import hub
from benchmark_utils.data.hub import HubShardSource, MissingDataError, hub_source
from benchmark_utils.data.shards import ShardError, read_header, write_shard
from benchmark_utils.errors import UserError

SHARD = 1000  # tokens per remote training shard in these tests


@pytest.fixture
def remote(tmp_path, monkeypatch):
    """A fake hub repository: val + 5 training shards of SHARD tokens but
    shard 2 (600) and shard 5 (500), and a fake ``hf_hub_download`` that records calls.
    ``remote.faults[name]`` lists what the next downloads of ``name`` do:
    "interrupt" (half a file in huggingface_hub's temporary file, then an
    error), "corrupt" (a bad file),
    "offline" (a connection error). ``remote.probes`` records the
    metadata requests (``remote.reachable = False``: they fail)."""
    monkeypatch.setattr(hub, "TOKENS_PER_SHARD", SHARD)
    monkeypatch.setenv("NANOGPT_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    root = tmp_path / "remote"
    rng = np.random.default_rng(0)
    write_shard(root / "toy_val_000000.bin", rng.integers(0, 50257, 3000))
    for i in range(1, 6):
        n = {2: 600, 5: 500}.get(i, SHARD)
        write_shard(root / f"toy_train_{i:06d}.bin", rng.integers(0, 50257, n))

    class Remote:
        path = root
        calls = []
        faults = {}
        probes = []
        reachable = True

    def fake_metadata(url, timeout=None, **kwargs):
        Remote.probes.append((url, timeout))
        if not Remote.reachable:
            raise ConnectionError("[Errno -2] Name or service not known")
        return object()

    def fake_download(
        repo_id, filename, repo_type, local_dir, force_download=False, **kwargs
    ):
        assert repo_type == "dataset" and repo_id == "someone/toy"
        assert kwargs.get("etag_timeout") == hub.etag_timeout()
        Remote.calls.append((filename, force_download))
        dest = Path(local_dir) / filename
        dest.parent.mkdir(parents=True, exist_ok=True)
        fault = Remote.faults.get(filename, [])
        action = fault.pop(0) if fault else None
        if action == "offline":
            raise ConnectionError("no route to host")
        if action == "interrupt":
            data = (root / filename).read_bytes()
            partial = Path(local_dir) / ".cache" / f"{filename}.incomplete"
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(data[: len(data) // 2])
            raise ConnectionError("connection reset while downloading")
        if action == "corrupt":
            dest.write_bytes(b"<html>rate limited</html>" * 100)
            return str(dest)
        shutil.copyfile(root / filename, dest)
        return str(dest)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", fake_metadata)
    return Remote


def toy_source(local_dir, **kwargs):
    return HubShardSource(
        repo_id="someone/toy",
        prefix="toy",
        n_train_shards=5,
        local_dir=local_dir,
        name="toy",
        log=lambda message: None,
        **kwargs,
    )


def test_building_a_source_touches_neither_disk_nor_network(remote, tmp_path):
    """Settings are checked before any download: a source, even for a
    budget of every shard, fetches nothing until files are asked for."""
    source = toy_source(tmp_path / "data", default_train_tokens=10**15)
    assert source.missing(source.files_for(5 * SHARD))  # nothing there
    assert not (tmp_path / "data").exists()
    assert remote.calls == [] and remote.probes == []
    edu = load_benchmark_module("datasets/fineweb_edu.py").Dataset.get_instance()
    edu.get_data()
    assert remote.calls == [] and remote.probes == []


def test_fetches_only_the_budget_and_reuses_files(remote, tmp_path):
    source = toy_source(tmp_path / "data")
    files = source.train_files(1500)
    assert [f.name for f in files] == ["toy_train_000001.bin", "toy_train_000002.bin"]
    assert sorted(c[0] for c in remote.calls) == [f.name for f in files]
    assert source.val_file().name == "toy_val_000000.bin"
    remote.calls.clear()
    assert source.train_files(1600) == files  # present: no download
    source.val_file()
    assert remote.calls == []


def test_short_shards_fetch_more_until_the_budget_is_covered(remote, tmp_path):
    source = toy_source(tmp_path / "data")
    files = source.train_files(2000)  # 2 shards by count, but they hold 1,600
    assert [f.name for f in files][-1] == "toy_train_000003.bin"
    with pytest.raises(UserError, match="hold 4,100 tokens"):
        source.train_files(4500)
    with pytest.raises(UserError, match="needs 11 shards but someone/toy has 5"):
        source.train_files(10_001)


def test_interrupted_download_leaves_no_shard_and_resumes(remote, tmp_path):
    source = toy_source(tmp_path / "data")
    remote.faults["toy_train_000002.bin"] = ["interrupt"]
    with pytest.raises(MissingDataError) as error:
        source.train_files(2500)
    # the complete shard is kept, the half one is gone, nothing else exists
    assert (tmp_path / "data" / "toy_train_000001.bin").exists()
    assert not (tmp_path / "data" / "toy_train_000002.bin").exists()
    assert error.value.files == ["toy_train_000002.bin", "toy_train_000003.bin"]
    assert "connection reset" in str(error.value)
    for path in (tmp_path / "data").glob("*.bin"):
        read_header(path)  # whatever is left passes as a shard
    remote.calls.clear()
    files = source.train_files(2500)  # resumes: only the missing two
    assert [c[0] for c in remote.calls] == [
        "toy_train_000002.bin",
        "toy_train_000003.bin",
    ]
    assert all(f.read_bytes() == (remote.path / f.name).read_bytes() for f in files)


def test_corrupt_download_is_deleted_and_named(remote, tmp_path):
    source = toy_source(tmp_path / "data")
    remote.faults["toy_train_000001.bin"] = ["corrupt"]
    with pytest.raises(ShardError, match="but not a valid shard") as info:
        source.train_files(10)
    assert "toy_train_000001.bin" in str(info.value)
    assert isinstance(info.value, UserError)
    assert not (tmp_path / "data" / "toy_train_000001.bin").exists()
    (path,) = source.train_files(10)  # the next run downloads it again
    assert read_header(path) == SHARD


def test_corrupt_local_copy_is_replaced(remote, tmp_path):
    local = tmp_path / "data"
    local.mkdir()
    good = (remote.path / "toy_train_000001.bin").read_bytes()
    (local / "toy_train_000001.bin").write_bytes(good[:-10])  # truncated
    source = toy_source(local)
    assert source.missing(["toy_train_000001.bin"]) == ["toy_train_000001.bin"]
    (path,) = source.train_files(10)
    assert path.read_bytes() == good
    # huggingface_hub's metadata may call the copy up to date: forced
    assert remote.calls == [("toy_train_000001.bin", True)]


def test_offline_message_lists_missing_files_and_command(remote, tmp_path, monkeypatch):
    local = tmp_path / "data"
    source = toy_source(local, default_train_tokens=2 * SHARD)
    source.train_files(SHARD)  # shard 1 present
    remote.calls.clear()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MissingDataError) as error:
        source.train_files(3 * SHARD)
    message = str(error.value)
    assert remote.calls == []  # no network attempt
    assert "toy_train_000001.bin" not in message  # present: not listed
    assert "toy_train_000002.bin" in message and "toy_train_000003.bin" in message
    assert (
        f"python -m benchmark_tools.download toy --train-tokens {3 * SHARD}" in message
    )
    assert "HF_HUB_OFFLINE" in message and str(local) in message
    # a shorter run: a complete command, not an elided one
    assert "...[" not in message
    assert (
        'benchopt run . -d toy -s muon -o "nanoGPT validation loss[max_steps=3250]"'
        in message
    )
    # the validation shard: lists it with what the default budget needs
    with pytest.raises(MissingDataError) as error:
        source.val_file()
    assert error.value.files == ["toy_val_000000.bin", "toy_train_000002.bin"]


def test_no_network_lists_every_missing_file(remote, tmp_path):
    source = toy_source(tmp_path / "data")
    remote.faults["toy_train_000001.bin"] = ["offline"]
    with pytest.raises(MissingDataError) as error:
        source.train_files(2 * SHARD)
    assert error.value.files == ["toy_train_000001.bin", "toy_train_000002.bin"]
    assert "no route to host" in str(error.value)


def test_registry_and_lazy_datasets(monkeypatch, tmp_path):
    edu = hub_source("fineweb_edu", local_dir=tmp_path)
    assert edu.repo_id == "kjj0/finewebedu10B-gpt2" and edu.n_train_shards == 99
    assert edu.val_name() == "finewebedu_val_000000.bin"
    assert edu.shards_for(1)[-1] == "finewebedu_train_000001.bin"
    assert edu.target is None and hub_source("fineweb_edu", target=3.1).target == 3.1
    assert hub_source("fineweb", local_dir=tmp_path).target == 3.28
    with pytest.raises(UserError, match="has 99"):
        edu.shards_for(100 * hub.TOKENS_PER_SHARD)


def test_download_command(remote, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(
        hub.HUB_DATASETS, "toy", hub.HubDataset("someone/toy", "toy", 5)
    )
    local = tmp_path / "data"
    argv = ["toy", "--steps", "3", "--batch-tokens", "500", "--local-dir", str(local)]
    assert download.main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    # Track 3's order: a 1,000-token shard holds one step of 500 tokens (its
    # tail is skipped), so 3 steps need 3 shards (contiguous tokens: 2).
    assert "missing  toy_train_000003.bin" in out and "toy_train_000004" not in out
    assert remote.calls == []
    assert download.main(argv) == 0
    # Shard 2 holds 600 tokens, not 1,000: the download counts tokens, so it
    # fetches a fourth shard to make up the 3,000 (the objective then checks
    # the steps the files hold in Track 3's order).
    assert sorted(p.name for p in local.glob("*.bin")) == [
        "toy_train_000001.bin",
        "toy_train_000002.bin",
        "toy_train_000003.bin",
        "toy_train_000004.bin",
        "toy_val_000000.bin",
    ]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert (
        download.main(["toy", "--train-tokens", "4100", "--local-dir", str(local)]) == 1
    )
    err = capsys.readouterr().err
    assert "toy_train_000005.bin" in err and "--train-tokens 4100" in err
