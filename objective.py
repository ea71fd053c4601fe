"""In how few steps does an optimizer train the Track 3 GPT to 3.28?

Everything but the optimizer is fixed here, as in modded-nanogpt Track 3:
the data and its order, the model and its initialisation (from the run's
seed), the global batch, the validation tokens, the evaluation schedule and
the target. Solvers receive a ``TrainingProblem``, train for their step
count N and return their model; the objective evaluates it the same way for
everyone. This module is the entry point of ``benchopt run``.
"""

import dataclasses
import math
import os
import sys

import torch
from benchopt import BaseObjective

from benchmark_utils import benchopt_compat as compat
from benchmark_utils import distributed
from benchmark_utils.data.loader import (
    ORDERS,
    BosIndex,
    DataExhaustedError,
    Track3Plan,
    track3_tokens_needed,
)
from benchmark_utils.data.shards import read_header, read_tokens
from benchmark_utils.errors import Boundary, UserError
from benchmark_utils.hellaswag import (
    evaluate_hellaswag,
    load_hellaswag,
    tokenize_examples,
)
from benchmark_utils.models import MODEL_SIZES, build_model, make_config
from benchmark_utils.settings import SettingsError, check_problem, check_val_tokens
from benchmark_utils.tracking import EvaluationTracker
from benchmark_utils.training.evaluation import model_device, validation_loss
from benchmark_utils.training.problem import TrainingProblem
from benchmark_utils.training.runtime import resolve_device

GPT2_VOCAB = 50257
PRECISIONS = ("auto", "bfloat16", "float32")
FULL_SIZE_WIDTH = 768
FULL_SIZE_ON_CPU = (
    "the objective is the full-size {model!r} model (Track 3's default "
    "problem) and this machine has no GPU: it would take days. If you passed "
    "-o, note that -o replaces the config's whole objective (benchopt's rule), "
    "so every setting you did not repeat is back to its default: repeat the "
    "config's objective settings in -o (e.g. -o \"nanoGPT validation loss["
    "model=track3-tiny,seq_len=128,batch_tokens=4096,micro_batch_size=32,"
    "val_tokens=16384,train_steps=200,max_steps=200,eval_every=50,"
    'eval_every_final=10,device=cpu]"), or set device=cpu to run the '
    "full-size model on the CPU anyway"
)


# benchopt run directly under torchrun would run the whole benchmark once
# per GPU: refuse at start-up (rank 0 says why).
if (
    int(os.environ.get("WORLD_SIZE") or 1) > 1
    and not os.environ.get(distributed.ENV_LAUNCHER)
    and os.environ.get("SUBMITIT_EXECUTOR") != "slurm"
):
    if os.environ.get("RANK", "0") == "0":
        print(f"error: {distributed.TORCHRUN_WITHOUT_LAUNCHER}", file=sys.stderr)
    sys.exit(2)
# benchopt imports this module before any dataset code runs: the error
# boundary is in place from the start.
BOUNDARY = Boundary().install()


class Objective(BaseObjective):
    name = "nanoGPT validation loss"
    url = "https://github.com/benchopt/benchmark_nanogpt"
    min_benchopt_version = "1.10"
    requirements = ["pip::torch", "pip::numpy", "pip::huggingface_hub"]
    test_dataset_name = "simulated"

    # Defaults define the Track 3 problem (modded-nanogpt
    # records/track_3_optimization: README.md and train_gpt_simple.py).
    parameters = {
        "model": ["track3"],
        "seq_len": [1024],
        "batch_tokens": [524_288],
        "val_tokens": [10_485_760],
        "target": [None],  # None: the dataset's default target
        # N for every solver; None: each solver's own train_steps.
        "train_steps": [None],
        # The data budget in steps: what is downloaded, and the most any
        # run may train (Track 3 downloads 4B tokens = 7,600 steps).
        "max_steps": [7600],
        "eval_every": [125],
        "eval_every_final": [25],
        # Stop at the first evaluation at or below the target: a demo
        # convenience, NOT Track 3 valid (its rule 5 forbids it).
        "stop_at_target": [False],
        "data_order": ["track3"],  # or "contiguous", "bos_aligned"
        # Hardware settings: they change speed, never the problem.
        "micro_batch_size": [64],
        "device": ["auto"],
        "compile": [True],
        # "auto": bf16 on CUDA for the Track 3 model (the reference), fp32
        # on CPU (bf16 matmuls are slow there).
        "precision": ["auto"],
        "tf32": [False],  # Track 3 does not enable TF32
        # HellaSwag acc_norm at the end of each run (step N), on GPT-2
        # tokenised data: 0 off, n the first n examples, -1 all 10,042.
        "hellaswag": [0],
    }
    test_config = dict(
        model="track3-tiny",
        seq_len=64,
        batch_tokens=1024,
        val_tokens=4096,
        train_steps=4,
        max_steps=4,
        eval_every=2,
        eval_every_final=1,
        micro_batch_size=8,
        device="cpu",
    )

    def skip(self, source):
        """Check every setting, then the data (downloading or generating what
        is missing), before any training. A problem skips this objective with
        one message (the others go on) and makes ``benchopt run`` exit 1."""
        try:
            check_settings({name: getattr(self, name) for name in self.parameters})
            self.torch_device = resolve_device(self.device)
            # -o replaces a config's whole objective: a CPU config with -o
            # "...[micro_batch_size=32]" is the full-size problem on the CPU.
            on_cpu = self.torch_device.type == "cpu" and self.device == "auto"
            if on_cpu and MODEL_SIZES[self.model][2] >= FULL_SIZE_WIDTH:
                raise UserError(FULL_SIZE_ON_CPU.format(model=self.model))
            if self.data_order == "bos_aligned" and source.bos_token is None:
                raise UserError(
                    "data_order='bos_aligned' needs documents, but dataset "
                    f"{source.name!r} has no document separator"
                )
            if self.hellaswag and source.vocab_size != GPT2_VOCAB:
                raise UserError(
                    f"hellaswag={self.hellaswag} needs GPT-2 tokenised data; "
                    f"dataset {source.name!r} has a vocabulary of "
                    f"{source.vocab_size}: set hellaswag=0"
                )
            self.source = source
            # Missing or bad data: one message listing every file.
            source.require(self._train_tokens_needed())
            val_file = source.val_file()
            check_val_tokens(
                self.val_tokens, self.seq_len, read_header(val_file), val_file
            )
        except UserError as error:
            BOUNDARY.run_failed(
                f"objective on {source.name}: {error}",
                output_base=compat.run_output_base(compat.run_context(self)),
            )
            return True, f"error: {error}"
        return False, None

    def set_data(self, source):
        self.source = source
        self.torch_device = resolve_device(self.device)
        BOUNDARY.output_base = compat.run_output_base(compat.run_context(self))
        self.target_loss = (
            self.target
            if self.target is not None
            else (source.target if source.target is not None else -math.inf)
        )
        n_windows = self.val_tokens // self.seq_len
        self.val_data = torch.from_numpy(
            read_tokens(source.val_file(), 0, n_windows * self.seq_len + 1)
        )
        # "auto": bf16 on CUDA (the reference), fp32 on CPU (slow bf16 matmuls).
        dtype = self.precision
        if dtype == "auto":
            dtype = "bfloat16" if self.torch_device.type == "cuda" else "float32"
        self.model_config = make_config(
            self.model, source.vocab_size, self.seq_len, dtype
        )
        self._train_files = None
        self.hellaswag_examples = None
        if self.hellaswag:
            n = None if self.hellaswag < 0 else self.hellaswag
            self.hellaswag_examples = tokenize_examples(
                load_hellaswag(max_examples=n), "gpt2"
            )
        # Weights & Biases: off unless $NANOGPT_BENCH_WANDB is online/offline.
        self.tracking = EvaluationTracker()

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
            train_steps=self.train_steps,
            eval_every=self.eval_every,
            eval_every_final=self.eval_every_final,
            device=str(self.torch_device),
            compile=self.compile,
            repeat_data=self.source.repeat_data,
            data_order=self.data_order,
            bos_token=self.source.bos_token,
            stop_at_target=bool(self.stop_at_target),
            tf32=bool(self.tf32),
        )
        problem.grad_accum_steps()  # a clear error now if the batch is invalid
        return dict(problem=problem)

    def _steps_available(self, files):
        """Optimizer steps ``files`` hold in the problem's data order."""
        if self.data_order == "track3":
            return Track3Plan(files, self.batch_tokens).total_steps
        if self.data_order == "bos_aligned":
            index = BosIndex(files, self.source.bos_token, self.seq_len)
            per_step = self.batch_tokens // self.seq_len
            needed = self._budget_steps() * per_step
            return index.index_until(needed) // per_step
        total = sum(read_header(f) for f in files)
        return (total - 1) // self.batch_tokens

    def _budget_steps(self):
        return self.train_steps or self.max_steps

    def _train_tokens_needed(self):
        """Training tokens the budget reads (Track 3's order: whole shards)."""
        n_steps = self._budget_steps()
        if self.data_order != "track3":
            return n_steps * self.batch_tokens + 1
        shard_tokens = getattr(self.source, "shard_tokens", None)
        return track3_tokens_needed(n_steps, self.batch_tokens, shard_tokens)

    def _fetch_train_files(self):
        """The training shards the step budget needs. The Track 3 and
        BOS-aligned orders skip shard or document tails: the token request
        grows until the files hold the budget's steps."""
        n_steps = self._budget_steps()
        n_tokens = self._train_tokens_needed()
        files = self.source.train_files(n_tokens)
        if self.source.repeat_data:
            return files
        for _ in range(8):
            available = self._steps_available(files)
            if available >= n_steps:
                return files
            n_tokens = int(n_tokens * 1.02 * n_steps / max(available, 1))
            n_tokens += self.batch_tokens
            more = self.source.train_files(n_tokens)
            if list(more) == list(files):
                break
            files = more
        raise DataExhaustedError(
            f"{self.source.name}: the training shards hold {available} steps "
            f"of {self.batch_tokens:,} tokens in the {self.data_order!r} order "
            f"but the run needs {n_steps}: provide more shards, lower "
            "max_steps/train_steps, or set the dataset's repeat_data"
        )

    def evaluate_result(
        self,
        model,
        step,
        train_loss,
        train_steps,
        diverged=False,
        metrics=None,
        dist=None,
    ):
        # Distributed: this rank's GPU; the windows are split across ranks.
        ctx = dist or distributed.SINGLE
        device = model_device(model, self.torch_device)
        self.val_data = self.val_data.to(device)  # once: a no-op after
        val_loss = math.nan  # diverged: the weights are not finite
        if not diverged:
            batch = self.micro_batch_size
            if batch == "auto":
                batch = int((metrics or {}).get("micro_batch_size", 1))
            val_loss = validation_loss(
                model, self.val_data, self.seq_len, batch, device, ctx
            )
        floor = self.source.floor
        result = dict(
            value=val_loss,
            val_loss=val_loss,
            train_loss=float(train_loss),
            step=float(step),
            tokens=float(step * self.batch_tokens),
            excess_loss=val_loss - floor if floor is not None else math.nan,
            reached_target=float(val_loss <= self.target_loss),
            budget_used=float(step / train_steps),
            train_steps=float(train_steps),
            target=float(self.target_loss)
            if math.isfinite(self.target_loss)
            else math.nan,
            diverged=float(bool(diverged)),
            # Throughput (benchmark_utils/training/metrics.py): tokens_per_second,
            # train_flops, mfu, peak_memory_gib, world_size, ...
            **{name: float(value) for name, value in (metrics or {}).items()},
        )
        if self.hellaswag_examples is not None:
            result["hellaswag"] = (
                evaluate_hellaswag(
                    model,
                    self.hellaswag_examples,
                    "gpt2",
                    device,
                    rank=ctx.rank,
                    world_size=ctx.world_size,
                )
                if step >= train_steps and not diverged
                else math.nan
            )
        if not ctx.is_leader:
            return result  # rank 0 alone reports and logs
        self.tracking.log(
            result,
            step,
            compat.run_context(self),
            config=dict(model_config=dataclasses.asdict(self.model_config)),
        )
        return result

    def save_final_results(self, step, train_steps, diverged=False, **result):
        self.tracking.finish()  # the run's Weights & Biases run, if any
        context = compat.run_context(self)
        base = compat.run_output_base(context)
        if step < train_steps and not diverged and base is not None:
            names = compat.run_names(context)
            solver = str(names["solver_name"]).split("[")[0]
            BOUNDARY.run_failed(
                f"{solver} (rep {names['idx_rep']}): unfinished at step {step} "
                f"of {train_steps}",
                output_base=base,
            )

    def get_one_result(self):
        model = build_model(self.model_config, seed=0).to(self.torch_device)
        return dict(model=model, step=0, train_loss=math.nan, train_steps=1)


def check_settings(settings):
    """The objective's settings, checked before any data work (one
    SettingsError listing every wrong one)."""
    problems = []
    for name, value, choices in (
        ("model", settings["model"], tuple(MODEL_SIZES)),
        ("data_order", settings["data_order"], ORDERS),
        ("precision", settings["precision"], PRECISIONS),
    ):
        if value not in choices:
            problems.append(f"{name}={value!r}: choose one of {', '.join(choices)}")
    if problems:
        raise SettingsError("invalid objective settings:\n  " + "\n  ".join(problems))
    mbs = settings["micro_batch_size"]
    check_problem(
        settings["seq_len"],
        settings["batch_tokens"],
        1 if mbs == "auto" else mbs,
        settings["max_steps"],
        settings["val_tokens"],
        train_steps=settings["train_steps"],
        eval_every=settings["eval_every"],
    )
