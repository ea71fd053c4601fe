import numpy as np
import pytest

from benchmark_utils.data.shards import (
    HEADER_BYTES,
    MAGIC,
    ShardError,
    open_shard,
    read_header,
    read_tokens,
    write_shard,
)
from benchmark_utils.errors import UserError


def test_round_trip(tmp_path):
    tokens = np.random.default_rng(0).integers(0, 50257, size=5000)
    path = write_shard(tmp_path / "a.bin", tokens)
    assert path.stat().st_size == HEADER_BYTES + 2 * 5000
    header = np.fromfile(path, dtype="<i4", count=256)
    assert list(header[:3]) == [MAGIC, 1, 5000] and not header[3:].any()
    assert read_header(path) == 5000
    np.testing.assert_array_equal(open_shard(path), tokens)
    np.testing.assert_array_equal(read_tokens(path, 10, 20), tokens[10:30])
    assert read_tokens(path, 0, 5).dtype == np.int64


def test_write_leaves_no_temporary_file(tmp_path):
    write_shard(tmp_path / "a.bin", np.arange(10))
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_write_rejects_ids_outside_uint16(tmp_path):
    with pytest.raises(ValueError, match="uint16"):
        write_shard(tmp_path / "a.bin", np.array([0, 70000]))
    assert not (tmp_path / "a.bin").exists()


def _corrupt(path, kind):
    data = bytearray(path.read_bytes())
    if kind == "magic":
        data[0:4] = np.int32(1234).tobytes()
    elif kind == "version":
        data[4:8] = np.int32(7).tobytes()
    elif kind == "truncated body":
        data = data[:-10]
    elif kind == "truncated header":
        data = data[:100]
    elif kind == "too large":
        data += b"\0\0"
    elif kind == "negative count":
        data[8:12] = np.int32(-5).tobytes()
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "kind, message",
    [
        ("magic", "wrong magic number 1234"),
        ("version", "unsupported version 7"),
        ("truncated body", "truncated: header announces 100 tokens"),
        ("truncated header", "truncated header"),
        ("too large", "too large"),
        ("negative count", "negative token count"),
    ],
)
def test_corrupt_shards_give_clear_errors(tmp_path, kind, message):
    path = write_shard(tmp_path / "bad.bin", np.arange(100))
    _corrupt(path, kind)
    with pytest.raises(ShardError, match=message) as info:
        open_shard(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, UserError)
    assert "Delete the file" in str(info.value)


def test_not_a_shard_file_says_what_it_is(tmp_path):
    with pytest.raises(ShardError, match="file not found") as info:
        read_header(tmp_path / "nope.bin")
    assert "Delete the file" not in str(info.value)  # nothing to delete
    (tmp_path / "dir.bin").mkdir()
    with pytest.raises(ShardError, match="is a directory, not a shard file") as info:
        read_header(tmp_path / "dir.bin")
    assert "not found" not in str(info.value)
    (tmp_path / "link.bin").symlink_to(tmp_path / "gone.bin")
    with pytest.raises(ShardError, match="symbolic link to .*gone.bin, which does"):
        read_header(tmp_path / "link.bin")
