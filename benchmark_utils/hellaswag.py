"""HellaSwag (validation split) as a zero-shot completion benchmark.

The file is rowanz/hellaswag ``data/hellaswag_val.jsonl`` (10,042 examples,
each a ``ctx``, four ``endings`` and the ``label`` of the right one). A run
reads the local copy in the benchmark's data folder, checked line by line,
and never downloads: ``python -m benchmark_tools.hellaswag_fetch`` does.

Scoring is the completion style of acc_norm: each ending is appended to the
context as ``enc(ctx) + enc(" " + ending)``, the model's cross-entropy is
averaged over the ending's tokens, and the ending with the lowest mean loss is
the answer. Sequences longer than the block size lose tokens from the left.
The endings of several examples are scored in one padded forward pass.
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .data.errors import MissingDataError
from .data.paths import data_dir

URL = (
    "https://raw.githubusercontent.com/rowanz/hellaswag/master/data/hellaswag_val.jsonl"
)
FILENAME = "hellaswag_val.jsonl"
N_VAL_EXAMPLES = 10_042
N_ENDINGS = 4
FETCH_COMMAND = "python -m benchmark_tools.hellaswag_fetch"


class HellaSwagFileError(ValueError):
    """A HellaSwag file that is not what it should be."""

    def __init__(self, path, problem):
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


@dataclass(frozen=True)
class TokenizedExample:
    """An example as token ids: the context, the four endings (each encoded
    with its leading space) and the index of the right ending."""

    context: tuple
    endings: tuple
    label: int


def hellaswag_dir():
    """Where the file is kept: the benchmark's data folder for "hellaswag"."""
    return data_dir("hellaswag")


def parse_example(line, where="line"):
    """The example (a dict with ctx, endings, label) of one JSON line;
    :class:`ValueError` if the line is not a well-formed example."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"{where} is not JSON ({error.msg})") from None
    if not isinstance(row, dict):
        raise ValueError(f"{where} is not a JSON object")
    ctx, endings, label = row.get("ctx"), row.get("endings"), row.get("label")
    if not isinstance(ctx, str):
        raise ValueError(f"{where} has no string 'ctx'")
    if (
        not isinstance(endings, list)
        or len(endings) != N_ENDINGS
        or not all(isinstance(e, str) for e in endings)
    ):
        raise ValueError(f"{where} does not have {N_ENDINGS} string 'endings'")
    if isinstance(label, str) and label.isdigit():
        label = int(label)
    if isinstance(label, bool) or not isinstance(label, int):
        raise ValueError(f"{where} has no integer 'label'")
    if not 0 <= label < N_ENDINGS:
        raise ValueError(f"{where} has label {label} outside 0..{N_ENDINGS - 1}")
    return dict(ctx=ctx, endings=list(endings), label=label)


def read_examples(path, expected=N_VAL_EXAMPLES):
    """Every example of a HellaSwag JSONL file, which must hold ``expected``
    of them (None: any); :class:`HellaSwagFileError` if it is missing or
    invalid."""
    path = Path(path)
    if not path.is_file():
        raise HellaSwagFileError(path, "no such file")
    examples = []
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    raise ValueError(f"line {number} is empty")
                examples.append(parse_example(line, f"line {number}"))
    except UnicodeDecodeError:
        raise HellaSwagFileError(path, "not UTF-8 text") from None
    except ValueError as error:
        raise HellaSwagFileError(path, str(error)) from None
    if expected is not None and len(examples) != expected:
        raise HellaSwagFileError(
            path, f"{len(examples):,} examples, expected {expected:,}"
        )
    return examples


def missing_error(path, problem, state="missing"):
    """The :class:`MissingDataError` of a missing or invalid local file: where
    it must be, and the command that fetches it."""
    path = Path(path)
    return MissingDataError(
        f"hellaswag: {path} is {state}.\nOn a machine with internet access, "
        f"run\n  {FETCH_COMMAND} --local-dir {path.parent}\nfrom the benchmark "
        f"folder, or download\n  {URL}\nand copy it to {path}.",
        files=[path.name],
        reason=problem,
    )


def load_hellaswag(local_dir=None, max_examples=None, expected=N_VAL_EXAMPLES):
    """The examples of the local copy (the first ``max_examples`` if given);
    a missing or invalid file is a :class:`MissingDataError`."""
    path = Path(hellaswag_dir() if local_dir is None else local_dir) / FILENAME
    try:
        examples = read_examples(path, expected)
    except HellaSwagFileError as error:
        state = f"invalid ({error.problem})" if path.exists() else "missing"
        raise missing_error(path, error.problem, state) from None
    return examples[:max_examples]


def tokenize_examples(examples, encoding):
    """Tokenize examples once (evaluations reuse the result). ``encoding``: a
    tiktoken encoding's name, or anything with ``encode_ordinary`` or
    ``encode``."""
    if all(isinstance(example, TokenizedExample) for example in examples):
        return list(examples)
    if isinstance(encoding, str):
        import tiktoken

        encoding = tiktoken.get_encoding(encoding)
    encode = getattr(encoding, "encode_ordinary", None) or encoding.encode
    tokenized = []
    for example in examples:
        if not isinstance(example, TokenizedExample):
            context = tuple(encode(example["ctx"]))
            if not context:
                raise ValueError(
                    f"HellaSwag example with an empty context: {example!r}"
                )
            endings = tuple(tuple(encode(" " + e)) for e in example["endings"])
            example = TokenizedExample(context, endings, int(example["label"]))
        tokenized.append(example)
    return tokenized


@torch.no_grad()
def ending_losses(model, examples, device, block_size=None):
    """Mean cross-entropy of each ending (float64, ``(len(examples), 4)``),
    in one padded forward pass. The model reads ``context + ending`` less its
    last token, cut to its last ``block_size`` tokens, and is scored on the
    ending's tokens."""
    rows = []  # (tokens, index of the first scored target)
    for example in examples:
        for ending in example.endings:
            if not ending:
                raise ValueError("HellaSwag ending with no tokens")
            stream = list(example.context) + list(ending)
            if block_size is not None:
                stream = stream[-(block_size + 1) :]
            rows.append((stream, max(0, len(stream) - len(ending) - 1)))
    length = max(len(stream) for stream, _ in rows) - 1
    x = torch.zeros(len(rows), length, dtype=torch.long)
    y = torch.zeros(len(rows), length, dtype=torch.long)
    mask = torch.zeros(len(rows), length, dtype=torch.bool)
    for i, (stream, first) in enumerate(rows):
        x[i, : len(stream) - 1] = torch.tensor(stream[:-1])
        y[i, : len(stream) - 1] = torch.tensor(stream[1:])
        mask[i, first : len(stream) - 1] = True
    x, y, mask = x.to(device), y.to(device), mask.to(device)
    logits = model(x).float()
    losses = F.cross_entropy(
        logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="none"
    ).view_as(y)
    losses = (losses.double() * mask).sum(1) / mask.sum(1)
    return losses.view(len(examples), -1).cpu()


def rank_indices(n_examples, rank=0, world_size=1):
    """The examples rank ``rank`` scores: ``i % world_size == rank``."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside 0..{world_size - 1}")
    return range(rank, n_examples, world_size)


def hellaswag_counts(
    model,
    examples,
    encoding,
    device,
    rank=0,
    world_size=1,
    max_examples=None,
    batch_size=8,
    block_size=None,
):
    """``(n_correct, n_scored)`` of this rank's share of the first
    ``max_examples`` examples; ``batch_size`` examples per forward pass,
    ``block_size`` from ``model.config`` by default. The model is scored in
    eval mode, unwrapped from ``torch.compile`` and DDP (a compiled model
    would recompile for every sequence length), then its mode restored."""
    examples = examples[:max_examples]
    mine = [examples[i] for i in rank_indices(len(examples), rank, world_size)]
    if not mine:
        return 0, 0
    mine = tokenize_examples(mine, encoding)
    while True:  # the plain module under torch.compile and DDP wrappers
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            break
    if block_size is None:
        block_size = getattr(getattr(model, "config", None), "block_size", None)
    was_training = model.training
    model.eval()
    n_correct = 0
    try:
        for first in range(0, len(mine), batch_size):
            batch = mine[first : first + batch_size]
            chosen = ending_losses(model, batch, device, block_size).argmin(dim=1)
            n_correct += sum(c == ex.label for c, ex in zip(chosen.tolist(), batch))
    finally:
        model.train(was_training)
    return n_correct, len(mine)


def evaluate_hellaswag(
    model, examples, encoding, device, rank=0, world_size=1, **options
):
    """HellaSwag accuracy in [0, 1] of ``model`` (``model(idx)`` returns
    logits (B, T, V)) on ``examples`` (dicts or :class:`TokenizedExample`);
    ``options``: those of :func:`hellaswag_counts`. With ``world_size > 1``
    each rank scores its share and, when the default process group is
    initialised, the counts are summed over ranks (every rank calls this)."""
    counts = hellaswag_counts(
        model, examples, encoding, device, rank, world_size, **options
    )
    dist = torch.distributed
    if world_size > 1 and dist.is_available() and dist.is_initialized():
        counts = torch.tensor(counts, dtype=torch.long, device=device)
        dist.all_reduce(counts)
        counts = counts.tolist()
    n_correct, n_scored = counts
    return n_correct / n_scored if n_scored else math.nan
