"""HellaSwag: the file (download mocked at ``download_url``), tokenisation,
completion-style scoring against losses computed by hand, truncation, and
the split of examples over ranks."""

import json
import os
import time
from math import log
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from benchmark_tools import hellaswag_fetch as fetch
from benchmark_tools.hellaswag_fetch import ensure_hellaswag
from benchmark_utils import hellaswag as hs
from benchmark_utils.data.hub import MissingDataError
from benchmark_utils.hellaswag import (
    HellaSwagFileError,
    TokenizedExample,
    ending_losses,
    evaluate_hellaswag,
    hellaswag_counts,
    load_hellaswag,
    rank_indices,
    read_examples,
    tokenize_examples,
)
from benchmark_utils.models import build_model, make_config

ROOT = Path(__file__).resolve().parents[1]
SHARED_CACHE = ROOT.parent / "shared" / "tiktoken_cache"

# -- a character-level language over "a", "b" and " " ---------------------------

ALPHABET = "ab "


class CharEncoding:
    """One token per character: a=0, b=1, space=2."""

    def encode(self, text):
        return [ALPHABET.index(c) for c in text]


# Next-character probabilities P[previous][next] of the fake model.
P = {
    "a": {"a": 0.5, "b": 0.25, " ": 0.25},
    "b": {"a": 0.125, "b": 0.125, " ": 0.75},
    " ": {"a": 0.6, "b": 0.3, " ": 0.1},
}


class BigramModel(nn.Module):
    """logits[b, t] = log P[idx[b, t]]: a bigram model whose log-softmax is
    exactly log P. Records its inputs and whether it ran in eval mode; like
    the real models it refuses sequences longer than its block size."""

    def __init__(self, block_size=64):
        super().__init__()
        table = [[log(P[prev][nxt]) for nxt in ALPHABET] for prev in ALPHABET]
        self.register_buffer("table", torch.tensor(table))
        self.config = type("Config", (), {"block_size": block_size})()
        self.inputs, self.modes = [], []

    def forward(self, idx):
        if idx.shape[1] > self.config.block_size:
            raise ValueError("sequence longer than the block size")
        self.inputs.extend(row.tolist() for row in idx)
        self.modes.append(self.training)
        return self.table[idx].float()


def nll(prev, nxt):
    return -log(P[prev][nxt])


# (ctx, endings, label). Losses below are worked out by hand from P: the
# ending " " + e is scored on its own characters, each predicted from the
# character before it.
EXAMPLES = [
    ("a", ["b", "aaaa", "bb", "ba"], 1),
    ("ab", ["a", "b", "ab", "bb"], 0),
    ("b", ["bb", "ab", "b", "a"], 2),  # the model picks "a": wrong
    ("ba", ["b", "aa", "bab", "a"], 1),
]
A_SPACE, B_SPACE = nll("a", " "), nll("b", " ")
SPACE_A, SPACE_B = nll(" ", "a"), nll(" ", "b")
AA, AB, BA, BB = nll("a", "a"), nll("a", "b"), nll("b", "a"), nll("b", "b")
HAND_LOSSES = [
    # ctx "a": "aaaa" wins on the mean (0.80) but "b" has the lower sum.
    [
        (A_SPACE + SPACE_B) / 2,
        (A_SPACE + SPACE_A + 3 * AA) / 5,
        (A_SPACE + SPACE_B + BB) / 3,
        (A_SPACE + SPACE_B + BA) / 3,
    ],
    [
        (B_SPACE + SPACE_A) / 2,
        (B_SPACE + SPACE_B) / 2,
        (B_SPACE + SPACE_A + AB) / 3,
        (B_SPACE + SPACE_B + BB) / 3,
    ],
    [
        (B_SPACE + SPACE_B + BB) / 3,
        (B_SPACE + SPACE_A + AB) / 3,
        (B_SPACE + SPACE_B) / 2,
        (B_SPACE + SPACE_A) / 2,
    ],
    [
        (A_SPACE + SPACE_B) / 2,
        (A_SPACE + SPACE_A + AA) / 3,
        (A_SPACE + SPACE_B + BA + AB) / 4,
        (A_SPACE + SPACE_A) / 2,
    ],
]
HAND_CHOICES = [1, 0, 3, 1]
HAND_ACCURACY = 3 / 4


def as_dicts(examples=EXAMPLES):
    return [dict(ctx=c, endings=e, label=label) for c, e, label in examples]


def test_hand_computed_losses_pick_the_expected_endings():
    # Sanity of the hand computation itself (independent of the module).
    for losses, choice in zip(HAND_LOSSES, HAND_CHOICES):
        assert min(range(4), key=lambda i: losses[i]) == choice
    sums = [A_SPACE + SPACE_B, A_SPACE + SPACE_A + 3 * AA]
    assert sums[0] < sums[1]  # a summed loss would pick "b"


def test_ending_losses_match_the_hand_computation():
    tokenized = tokenize_examples(as_dicts(), CharEncoding())
    losses = ending_losses(BigramModel(), tokenized, "cpu")
    assert losses.shape == (4, 4)
    torch.testing.assert_close(
        losses, torch.tensor(HAND_LOSSES, dtype=torch.float64), rtol=0, atol=1e-6
    )


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_accuracy_is_the_hand_computed_one(batch_size):
    model = BigramModel()
    acc = evaluate_hellaswag(
        model, as_dicts(), CharEncoding(), "cpu", batch_size=batch_size
    )
    assert acc == pytest.approx(HAND_ACCURACY)
    # The four endings of an example are one padded batch.
    assert len(model.modes) == -(-len(EXAMPLES) // batch_size)


def test_tokenization_is_context_then_space_ending():
    (ex,) = tokenize_examples(as_dicts(EXAMPLES[:1]), CharEncoding())
    assert ex == TokenizedExample(
        context=(0,), endings=((2, 1), (2, 0, 0, 0, 0), (2, 1, 1), (2, 1, 0)), label=1
    )
    # Tokenized examples are scored as they are (no encoding needed).
    model = BigramModel()
    assert evaluate_hellaswag(model, [ex], None, "cpu") == 1.0


def test_model_mode_is_restored_and_scoring_runs_in_eval_mode():
    model = BigramModel().train()
    evaluate_hellaswag(model, as_dicts(), CharEncoding(), "cpu")
    assert model.modes and not any(model.modes)
    assert model.training
    model.eval()
    evaluate_hellaswag(model, as_dicts(), CharEncoding(), "cpu")
    assert not model.training


def test_compiled_model_is_unwrapped():
    model = BigramModel()
    compiled = torch.compile(model)  # never run: scoring uses the module
    acc = evaluate_hellaswag(compiled, as_dicts(), CharEncoding(), "cpu")
    assert acc == pytest.approx(HAND_ACCURACY)
    assert model.modes


def test_long_sequences_are_truncated_from_the_left():
    tokenized = tokenize_examples(as_dicts(EXAMPLES[:1]), CharEncoding())
    model = BigramModel(block_size=4)
    losses = ending_losses(model, tokenized, "cpu", block_size=4)
    assert all(len(row) <= 4 for row in model.inputs)
    # "a" + " aaaa" has 6 tokens: the stream keeps its last 5 (" aaaa"), the
    # model reads " aaa" and the ending's first token, now without a token
    # before it, is no longer scored.
    assert model.inputs[1] == [2, 0, 0, 0]
    expected = [
        (A_SPACE + SPACE_B) / 2,
        (SPACE_A + 3 * AA) / 4,
        (A_SPACE + SPACE_B + BB) / 3,
        (A_SPACE + SPACE_B + BA) / 3,
    ]
    torch.testing.assert_close(
        losses[0], torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-6
    )
    # Cutting only context tokens leaves a bigram model's scores unchanged;
    # the block size comes from model.config by default.
    model = BigramModel(block_size=3)
    tokenized = tokenize_examples(as_dicts(EXAMPLES[1:2]), CharEncoding())
    assert evaluate_hellaswag(model, tokenized, None, "cpu") == 1.0
    assert max(len(row) for row in model.inputs) == 3
    assert model.inputs[2] == [1, 2, 0]  # "ab" + " ab" -> "b a" | " ab"
    torch.testing.assert_close(
        ending_losses(BigramModel(), tokenized, "cpu", block_size=3),
        torch.tensor(HAND_LOSSES[1:2], dtype=torch.float64),
    )


def test_padding_does_not_leak_into_a_real_causal_model():
    """Batched, padded scores of the tiny GPT equal those of each ending
    run alone without padding."""
    model = build_model(make_config("gpt2-tiny", len(ALPHABET), 16), seed=0)
    tokenized = tokenize_examples(as_dicts(), CharEncoding())
    batched = ending_losses(model.eval(), tokenized, "cpu")
    for i, ex in enumerate(tokenized):
        for j, ending in enumerate(ex.endings):
            seq = torch.tensor([list(ex.context) + list(ending)])
            with torch.no_grad():
                logp = torch.log_softmax(model(seq[:, :-1]), -1)[0]
            n = len(ending)
            targets = seq[0, -n:]
            alone = -logp[-n:].gather(1, targets[:, None]).mean()
            assert batched[i, j].item() == pytest.approx(alone.item(), abs=1e-5)
    acc = evaluate_hellaswag(model, tokenized, None, "cpu", batch_size=2)
    chosen = batched.argmin(1).tolist()
    assert acc == sum(c == ex.label for c, ex in zip(chosen, tokenized)) / 4


def test_empty_context_is_rejected():
    with pytest.raises(ValueError, match="empty context"):
        tokenize_examples(as_dicts([("", ["a", "b", "a", "b"], 0)]), CharEncoding())


# -- ranks ---------------------------------------------------------------------


def test_rank_indices_partition_the_examples():
    n, world = 10, 3
    shares = [list(rank_indices(n, r, world)) for r in range(world)]
    assert shares == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert sorted(i for s in shares for i in s) == list(range(n))
    with pytest.raises(ValueError):
        rank_indices(n, 3, 3)


def test_per_rank_counts_add_up_to_the_single_process_counts():
    examples = as_dicts() * 3  # 12 examples, 9 right
    total = hellaswag_counts(BigramModel(), examples, CharEncoding(), "cpu")
    assert total == (9, 12)
    for world in (2, 3, 5):
        per_rank = [
            hellaswag_counts(
                BigramModel(), examples, CharEncoding(), "cpu", rank, world
            )
            for rank in range(world)
        ]
        assert tuple(map(sum, zip(*per_rank))) == total
    # rank 1 of 2 sees examples 1, 3, 5, ... = EXAMPLES[1] and EXAMPLES[3]
    model = BigramModel()
    assert hellaswag_counts(model, examples, CharEncoding(), "cpu", 1, 2) == (6, 6)
    # Without a process group, each rank returns its own accuracy.
    acc = evaluate_hellaswag(
        BigramModel(), examples, CharEncoding(), "cpu", rank=0, world_size=2
    )
    assert acc == pytest.approx(3 / 6)


def test_max_examples_is_applied_before_the_split():
    examples = as_dicts()
    assert hellaswag_counts(
        BigramModel(), examples, CharEncoding(), "cpu", max_examples=3
    ) == (2, 3)
    assert hellaswag_counts(
        BigramModel(), examples, CharEncoding(), "cpu", 1, 2, max_examples=3
    ) == (1, 1)
    acc = evaluate_hellaswag(
        BigramModel(), examples, CharEncoding(), "cpu", max_examples=2
    )
    assert acc == 1.0


# -- the real GPT-2 encoding -----------------------------------------------------


@pytest.fixture
def gpt2(monkeypatch):
    cache = os.environ.get("TIKTOKEN_CACHE_DIR")
    if not cache and SHARED_CACHE.is_dir():
        monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(SHARED_CACHE))
    import tiktoken

    try:
        return tiktoken.get_encoding("gpt2")
    except Exception as error:  # no cached BPE files and no network
        pytest.skip(
            "tiktoken cannot load the gpt2 encoding: no network and no "
            f"cache (set TIKTOKEN_CACHE_DIR to ../shared/tiktoken_cache): {error}"
        )


class FavouringModel(nn.Module):
    """Constant logits over the GPT-2 vocabulary: +10 for the tokens of
    ``favoured``, 0 elsewhere."""

    def __init__(self, favoured, vocab_size=50304):
        super().__init__()
        self.logits = torch.zeros(vocab_size)
        self.logits[list(favoured)] = 10.0
        self.inputs = []

    def forward(self, idx):
        self.inputs.extend(row.tolist() for row in idx)
        return self.logits.expand(*idx.shape, -1).clone()


def test_gpt2_encoding_and_scoring(gpt2):
    example = dict(
        ctx="A man is sitting on a roof. He",
        endings=[
            "starts pulling up roofing on a roof.",
            "is eating a sandwich in the kitchen.",
            "plays the violin loudly at night.",
            "rides a bicycle down the street.",
        ],
        label=2,
    )
    context = gpt2.encode_ordinary(example["ctx"])
    endings = [gpt2.encode_ordinary(" " + e) for e in example["endings"]]
    assert endings[0][0] == gpt2.encode_ordinary(" starts")[0]  # the space
    (tokenized,) = tokenize_examples([example], gpt2)
    assert tokenized.context == tuple(context)
    assert tokenized.endings == tuple(map(tuple, endings))

    favoured = set(endings[2]) - set(t for i in (0, 1, 3) for t in endings[i])
    model = FavouringModel(favoured)
    losses = ending_losses(model, [tokenized], "cpu")
    for row, ending in zip(model.inputs, endings):
        n = len(context) + len(ending) - 1
        assert row[:n] == context + ending[:-1]  # then padding
    # By hand: loss(t) = log Z - 10 [t favoured], Z = (V - k) + k e^10.
    k, V = len(favoured), 50304
    log_z = log((V - k) + k * torch.e**10)
    for j, ending in enumerate(endings):
        expected = sum(log_z - 10 * (t in favoured) for t in ending) / len(ending)
        assert losses[0, j].item() == pytest.approx(expected, rel=1e-5)
    assert evaluate_hellaswag(model, [example], "gpt2", "cpu") == 1.0


# -- the file and its download ---------------------------------------------------

LINES = [
    json.dumps(dict(ctx=c, endings=e, label=label, ind=i))
    for i, (c, e, label) in enumerate(EXAMPLES[:3])
]
GOOD = "\n".join(LINES) + "\n"


@pytest.fixture
def remote(monkeypatch):
    """``download_url`` replaced: ``remote.bodies`` lists what the next
    downloads write (bytes), or an exception to raise."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    class Remote:
        calls = []
        bodies = []

    def fake_download(url, path, timeout=60):
        Remote.calls.append(url)
        body = Remote.bodies.pop(0) if Remote.bodies else GOOD.encode()
        if isinstance(body, BaseException):
            Path(path).write_bytes(GOOD.encode()[:20])  # a partial file
            raise body
        Path(path).write_bytes(body)

    monkeypatch.setattr(fetch, "download_url", fake_download)
    return Remote


def test_download_once_then_reuse(tmp_path, remote):
    path, examples = ensure_hellaswag(tmp_path, expected=3, log=lambda m: None)
    assert path == tmp_path / hs.FILENAME and path.read_text() == GOOD
    assert examples == as_dicts(EXAMPLES[:3])
    assert remote.calls == [hs.URL]
    assert sorted(p.name for p in tmp_path.iterdir()) == [hs.FILENAME]
    assert load_hellaswag(tmp_path, expected=3, max_examples=2) == as_dicts(
        EXAMPLES[:2]
    )
    assert remote.calls == [hs.URL]  # no second download


def test_a_run_never_downloads_and_names_the_fetch_command(tmp_path, remote):
    """The run path reads the local copy only: a missing or invalid file is a
    MissingDataError that says where the file goes and how to fetch it."""
    with pytest.raises(MissingDataError) as info:
        load_hellaswag(tmp_path / "hs", expected=3)
    message = str(info.value)
    path = tmp_path / "hs" / hs.FILENAME
    assert f"{path} is missing" in message and f"copy it to {path}" in message
    assert f"{hs.FETCH_COMMAND} --local-dir {path.parent}" in message
    assert hs.FETCH_COMMAND == "python -m benchmark_tools.hellaswag_fetch"
    (tmp_path / hs.FILENAME).write_text(LINES[0] + "\n")
    with pytest.raises(MissingDataError, match="is invalid .*1 examples, expected 3"):
        load_hellaswag(tmp_path, expected=3)
    assert remote.calls == []


@pytest.mark.parametrize(
    "bad",
    [
        b"<html>rate limited</html>\n",
        ("\n".join(LINES[:2]) + "\n").encode(),  # truncated: 2 of 3 lines
        (GOOD.replace('"label": 1', '"label": 7')).encode(),
        (GOOD.replace('"b", "aaaa", ', "")).encode(),  # 2 endings
        b"\xff\xfe" * 40,
    ],
)
def test_corrupt_download_is_retried(tmp_path, remote, bad):
    remote.bodies = [bad]
    messages = []
    path, examples = ensure_hellaswag(tmp_path, expected=3, log=messages.append)
    assert len(remote.calls) == 2 and len(examples) == 3
    assert any("invalid" in m for m in messages)
    assert sorted(p.name for p in tmp_path.iterdir()) == [hs.FILENAME]


def test_corrupt_twice_is_rejected_and_leaves_nothing(tmp_path, remote):
    remote.bodies = [b"not json\n", b"still not json\n"]
    with pytest.raises(HellaSwagFileError, match="invalid both times.*line 1"):
        ensure_hellaswag(tmp_path, expected=3, log=lambda m: None)
    assert list(tmp_path.iterdir()) == []


def test_invalid_local_copy_is_replaced(tmp_path, remote):
    (tmp_path / hs.FILENAME).write_text(LINES[0] + "\n")
    _, examples = ensure_hellaswag(tmp_path, expected=3, log=lambda m: None)
    assert len(examples) == 3 and len(remote.calls) == 1


def test_network_error_gives_the_offline_guidance(tmp_path, remote):
    remote.bodies = [ConnectionError("Name or service not known")]
    with pytest.raises(MissingDataError) as info:
        ensure_hellaswag(tmp_path / "hs", expected=3, log=lambda m: None)
    message = str(info.value)
    path = tmp_path / "hs" / hs.FILENAME
    assert f"{path} is missing" in message
    assert "ConnectionError: Name or service not known" in message
    assert hs.URL in message and hs.FETCH_COMMAND in message
    assert f"copy it to {path}" in message
    assert info.value.files == [hs.FILENAME]
    assert list((tmp_path / "hs").iterdir()) == []  # the partial file is gone


def test_interrupted_download_leaves_no_partial_file(tmp_path, remote):
    remote.bodies = [KeyboardInterrupt()]
    with pytest.raises(KeyboardInterrupt):
        ensure_hellaswag(tmp_path, expected=3, log=lambda m: None)
    assert list(tmp_path.iterdir()) == []


def test_offline_fails_fast_without_trying(tmp_path, remote, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(MissingDataError) as info:
        ensure_hellaswag(tmp_path, expected=3, log=lambda m: None)
    assert time.perf_counter() - start < 1
    assert remote.calls == []
    message = str(info.value)
    assert "HF_HUB_OFFLINE is set" in message and hs.URL in message
    assert str(tmp_path / hs.FILENAME) in message
    # An invalid local copy is named as such (and kept).
    (tmp_path / hs.FILENAME).write_text("oops\n")
    with pytest.raises(MissingDataError, match="is invalid .*line 1 is not JSON"):
        ensure_hellaswag(tmp_path, expected=3, log=lambda m: None)
    assert (tmp_path / hs.FILENAME).read_text() == "oops\n"


def test_real_download_function_error_becomes_guidance(tmp_path, monkeypatch):
    """The real ``download_url`` with urllib failing as it does offline."""
    import urllib.error
    import urllib.request

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(MissingDataError, match="URLError"):
        ensure_hellaswag(tmp_path, expected=3, log=lambda m: None)
    assert list(tmp_path.iterdir()) == []


def test_default_folder_and_command_line(tmp_path, remote, monkeypatch, capsys):
    monkeypatch.setenv("NANOGPT_BENCH_DATA", str(tmp_path))
    assert hs.hellaswag_dir() == tmp_path / "hellaswag"
    monkeypatch.setattr(fetch, "N_VAL_EXAMPLES", 3)
    assert fetch.main([]) == 0
    assert "3 examples" in capsys.readouterr().out
    assert (tmp_path / "hellaswag" / hs.FILENAME).read_text() == GOOD
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert fetch.main(["--local-dir", str(tmp_path / "elsewhere")]) == 2
    assert "HF_HUB_OFFLINE" in capsys.readouterr().err


def test_read_examples_accepts_the_real_layout(tmp_path):
    """A line in the layout of hellaswag_val.jsonl (extra keys ignored)."""
    line = {
        "ind": 24,
        "activity_label": "Roof shingle removal",
        "ctx_a": "A man is sitting on a roof.",
        "ctx_b": "he",
        "ctx": "A man is sitting on a roof. he",
        "split": "val",
        "split_type": "indomain",
        "label": 3,
        "endings": [
            "is using wrap.",
            "is ripping tiles off.",
            "is holding.",
            "starts.",
        ],
        "source_id": "activitynet~v_-JhWjGDPHMY",
    }
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(line) + "\n")
    (example,) = read_examples(path, expected=1)
    assert example == dict(ctx=line["ctx"], endings=line["endings"], label=3)
    with pytest.raises(HellaSwagFileError, match="1 examples, expected 10,042"):
        read_examples(path)
