"""How fast does an optimizer train GPT-2 to a target validation loss?

Everything but the optimizer is fixed here: data and its order, the model and
its initialisation (from the run's seed, identical for every solver), the
global batch in tokens, the sequence length, the validation tokens and the
target. Solvers receive a ``TrainingProblem`` and return their model; the
objective evaluates it the same way for everyone.
"""

import math

import torch
from benchopt import BaseObjective

from benchmark_utils.evaluation import validation_loss
from benchmark_utils.loader import BosIndex, DataExhaustedError
from benchmark_utils.models import build_model, make_config
from benchmark_utils.runtime import resolve_device
from benchmark_utils.shards import read_header, read_tokens
from benchmark_utils.trainer import TrainingProblem


class Objective(BaseObjective):
    name = "nanoGPT validation loss"
    url = "https://github.com/benchopt/benchmark_nanogpt"
    min_benchopt_version = "1.10"
    requirements = ["pip::torch", "pip::numpy", "pip::huggingface_hub"]
    test_dataset_name = "simulated"

    # Defaults define the GPT-2 124M FineWeb problem (modded-nanogpt Track 3).
    parameters = {
        "model": ["gpt2-124m"],
        "seq_len": [1024],
        "batch_tokens": [524_288],
        "val_tokens": [10_485_760],
        "target": [None],  # None: the dataset's default target
        "eval_every": [125],
        "max_steps": [6000],
        # Hardware settings: they change speed, never the problem.
        "micro_batch_size": [32],
        "device": ["auto"],
        "compile": [True],
        # False: the reference contiguous stream; True: every sequence starts
        # at a document boundary (<|endoftext|>).
        "bos_aligned": [False],
    }
    test_config = dict(
        model="gpt2-tiny",
        seq_len=64,
        batch_tokens=1024,
        val_tokens=4096,
        eval_every=2,
        max_steps=4,
        micro_batch_size=8,
        device="cpu",
    )

    def set_data(self, source):
        self.source = source
        self.torch_device = resolve_device(self.device)
        self.target_loss = (
            self.target
            if self.target is not None
            else (source.target if source.target is not None else -math.inf)
        )
        if self.val_tokens < self.seq_len:
            raise ValueError(
                f"val_tokens={self.val_tokens} is shorter than one sequence "
                f"of seq_len={self.seq_len}"
            )
        val_file = source.val_file()
        available = read_header(val_file)
        if self.val_tokens + 1 > available:
            raise ValueError(
                f"val_tokens={self.val_tokens:,} does not fit the validation "
                f"file {val_file} ({available:,} tokens): use at most "
                f"{available - 1:,}"
            )
        n_windows = self.val_tokens // self.seq_len
        self.val_data = torch.from_numpy(
            read_tokens(val_file, 0, n_windows * self.seq_len + 1)
        )
        if self.bos_aligned and source.bos_token is None:
            raise ValueError(
                f"bos_aligned=True needs documents, but dataset {source.name!r} "
                "has no document separator"
            )
        self.model_config = make_config(self.model, source.vocab_size, self.seq_len)
        self._train_files = None

    def get_objective(self):
        if self._train_files is None:  # fetched once, outside timed runs
            self._train_files = tuple(self._fetch_train_files())
        problem = TrainingProblem(
            model_config=self.model_config,
            init_seed=self.get_seed(use_repetition=True),
            train_files=self._train_files,
            seq_len=self.seq_len,
            batch_tokens=self.batch_tokens,
            micro_batch_size=self.micro_batch_size,
            max_steps=self.max_steps,
            eval_every=self.eval_every,
            device=str(self.torch_device),
            compile=self.compile,
            repeat_data=self.source.repeat_data,
            bos_aligned=self.bos_aligned,
            bos_token=self.source.bos_token,
        )
        problem.grad_accum_steps()  # a clear error now if the batch is invalid
        return dict(problem=problem)

    def _fetch_train_files(self):
        """The training shards the step budget needs (downloaded or generated
        if necessary)."""
        n_tokens = self.max_steps * self.batch_tokens + 1
        files = self.source.train_files(n_tokens)
        if not self.bos_aligned or self.source.repeat_data:
            return files
        # BOS-aligned sequences skip the tails of documents cut at a sequence
        # end, so the budget needs more than max_steps x batch_tokens tokens:
        # grow the request by the measured coverage until it is met, so that a
        # run never runs out of data half-way.
        n_sequences = self.max_steps * self.batch_tokens // self.seq_len
        for _ in range(5):
            index = BosIndex(files, self.source.bos_token, self.seq_len)
            if index.index_until(n_sequences) >= n_sequences:
                return files
            n_tokens = int(1.05 * n_tokens / max(index.coverage(), 0.01)) + 1
            files = self.source.train_files(n_tokens)
        raise DataExhaustedError(
            f"{self.source.name}: not enough BOS-aligned sequences of "
            f"{self.seq_len} tokens for {self.max_steps} steps; use "
            "repeat_data, more shards or a smaller budget"
        )

    def evaluate_result(self, model, step, train_loss):
        if self.val_data.device != self.torch_device:
            self.val_data = self.val_data.to(self.torch_device)
        val_loss = validation_loss(
            model, self.val_data, self.seq_len, self.micro_batch_size, self.torch_device
        )
        floor = self.source.floor
        return dict(
            value=val_loss,
            val_loss=val_loss,
            train_loss=float(train_loss),
            step=float(step),
            tokens=float(step * self.batch_tokens),
            excess_loss=val_loss - floor if floor is not None else math.nan,
            reached_target=float(val_loss <= self.target_loss),
            budget_used=float(step / self.max_steps),
        )

    def get_one_result(self):
        model = build_model(self.model_config, seed=0).to(self.torch_device)
        return dict(model=model, step=0, train_loss=math.nan)
