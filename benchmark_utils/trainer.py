"""The benchmark's one training loop, shared by every solver.

A solver subclasses :class:`TrainerSolver`, declares its ``parameters`` and
implements ``build_optimizers(groups)``. Everything else (fresh model from the
run's seed, data order, gradient accumulation and scale, LR schedule,
clipping, precision, compilation, the evaluation schedule, timing discipline,
divergence and crash handling) is here, once, so that every optimizer is
trained under exactly the same conditions.

The protocol is Track 3's: a run has a step count N (``train_steps``, the
number a result claims and the schedule's horizon) and trains to N; it is
evaluated at step 0, every ``eval_every`` steps while step / N < 0.9, every
``eval_every_final`` steps after, and at N; it does not stop early on the
validation loss unless the objective asks for it (``stop_at_target``).
"""

import contextlib
import math
import os
import sys
import time
import traceback
from dataclasses import dataclass, replace

import torch
from benchopt import BaseSolver
from benchopt.utils.run_context import RunContext

from . import distributed, metrics
from .evaluation import next_evaluation
from .loader import BatchLoader
from .models import build_model
from .run_status import exit_nonzero_at_the_end, run_status_folder, write_run_status
from .runtime import (
    configure_backends,
    keep_freed_memory,
    resolve_device,
    synchronize,
)
from .schedules import lr_multiplier
from .settings import check_parameter_types
from .stopping import ProtocolCriterion


@dataclass(frozen=True)
class TrainingProblem:
    """What the objective fixes for every solver (see ``Objective.get_objective``)."""

    model_config: object
    init_seed: int
    train_files: tuple
    seq_len: int
    batch_tokens: int
    micro_batch_size: int
    max_steps: int  # the data budget: no run may train for more steps
    eval_every: int
    eval_every_final: int = 25
    train_steps: int = None  # N for every solver; None: each solver's own
    device: str = "auto"
    compile: bool = True  # True: on CUDA; "always": on any device (tests)
    repeat_data: bool = False
    data_order: str = "track3"  # "track3", "contiguous" or "bos_aligned"
    bos_token: int = None  # the document separator, for bos_aligned
    stop_at_target: bool = False  # not Track 3 valid: a demo convenience
    tf32: bool = False  # a hardware option Track 3 does not use

    def grad_accum_steps(self, world_size=1):
        if self.micro_batch_size == "auto":  # resolved by the trainer's probe
            self.sequences_per_rank(world_size)
            return None
        tokens_per_micro = self.micro_batch_size * self.seq_len * world_size
        if self.batch_tokens % tokens_per_micro:
            raise ValueError(
                f"the global batch of {self.batch_tokens} tokens is not a "
                f"multiple of micro_batch_size x seq_len x world_size = "
                f"{self.micro_batch_size} x {self.seq_len} x {world_size} = "
                f"{tokens_per_micro}. Choose a micro_batch_size that divides "
                f"{self.batch_tokens // (self.seq_len * world_size)}; the "
                "global batch is part of the problem and does not change."
            )
        return self.batch_tokens // tokens_per_micro

    def sequences_per_rank(self, world_size=1):
        if self.batch_tokens % (self.seq_len * world_size):
            raise ValueError(
                f"the global batch of {self.batch_tokens} tokens is not a "
                f"whole number of sequences of {self.seq_len} tokens on each "
                f"of {world_size} ranks"
            )
        return self.batch_tokens // (self.seq_len * world_size)


# Track 3's schedule: LR constant, then linear to 0 over the last 70% of the
# N steps; no warmup, no clipping (the baseline #36).
TRACK3_SCHEDULE = {
    "schedule": ["wsd"],
    "decay_fraction": [0.7],
    "min_lr_ratio": [0.0],
    "warmup": [0],
    "grad_clip": [0.0],
}


class SolverContractError(TypeError):
    """A solver's ``build_optimizers`` does not train the model properly."""


def check_optimizers(optimizers, model, solver_name):
    """Every trainable parameter must be in exactly one optimizer."""
    if isinstance(optimizers, torch.optim.Optimizer):
        optimizers = [optimizers]
    optimizers = list(optimizers or [])
    if not optimizers:
        raise SolverContractError(
            f"solver {solver_name!r}: build_optimizers returned no optimizer; "
            "it must return a list of torch.optim.Optimizer covering every "
            "parameter group"
        )
    for opt in optimizers:
        if not hasattr(opt, "step") or not hasattr(opt, "param_groups"):
            raise SolverContractError(
                f"solver {solver_name!r}: {type(opt).__name__} is not an "
                "optimizer (no step() / param_groups)"
            )
    names = {id(p): n for n, p in model.named_parameters()}
    seen = {}
    for opt in optimizers:
        for group in opt.param_groups:
            for p in group["params"]:
                if id(p) in seen:
                    raise SolverContractError(
                        f"solver {solver_name!r}: parameter "
                        f"{names.get(id(p), '?')} is given to two optimizers"
                    )
                seen[id(p)] = p
    missing = [
        n for n, p in model.named_parameters() if p.requires_grad and id(p) not in seen
    ]
    if missing:
        raise SolverContractError(
            f"solver {solver_name!r}: {len(missing)} parameter(s) are in no "
            f"optimizer and would never train: {', '.join(missing[:6])}"
            f"{' ...' if len(missing) > 6 else ''}. Give every group of "
            "ParameterGroups (hidden_matrices, embedding, head, scalars) to "
            "an optimizer."
        )
    return optimizers


class TrainerSolver(BaseSolver):
    """Base class of every solver: holds the only training loop."""

    sampling_strategy = "callback"
    stopping_criterion = ProtocolCriterion(strategy="callback")
    requirements = []

    # Recipe settings a solver may expose (and sweep) through ``parameters``,
    # with their defaults. They are not class attributes: benchopt does not
    # set a parameter whose name is already a class attribute.
    RECIPE_DEFAULTS = dict(
        train_steps=None,  # N: the step count a result claims (required)
        init="baseline",  # Track 3 init scheme (models.INIT_SCHEMES)
        schedule="constant",  # see schedules.SCHEDULES
        warmup=0.0,  # >= 1: steps; < 1: fraction of N
        decay_fraction=0.2,  # the decay part of the "wsd" schedule
        min_lr_ratio=0.0,  # final LR / base LR for decaying schedules
        grad_clip=0.0,  # max global gradient norm; 0 disables clipping
    )

    # Replaced in set_objective; class attributes so that get_next works on
    # a bare Solver() (benchopt calls get_next(1) to check it).
    n_steps = 1
    eval_every = 1
    eval_every_final = 1

    def build_optimizers(self, groups):
        """Return the optimizer(s) for ``groups`` (a ``ParameterGroups``)."""
        raise NotImplementedError

    def before_evaluation(self):
        """Hook: called before the model is evaluated (e.g. swap in averaged
        weights)."""

    def after_evaluation(self):
        """Hook: called before training resumes after an evaluation."""

    def get_next(self, stop_val):
        return next_evaluation(
            stop_val, self.n_steps, self.eval_every, self.eval_every_final
        )

    # -- benchopt API -----------------------------------------------------

    def set_objective(self, problem):
        try:
            self._set_up(problem)
        except Exception as error:
            self.step = getattr(self, "step", 0)
            self.n_steps = getattr(self, "n_steps", 0)
            self._record_status("error", f"{type(error).__name__}: {error}")
            raise

    def _set_up(self, problem):
        # A clear error for e.g. -s "muon[lr=abc]", with the values converted
        # (an int given for a float, a list for a tuple).
        declared = {
            **{k: [v] for k, v in self.RECIPE_DEFAULTS.items() if v is not None},
            **type(self).parameters,
        }
        parameters = getattr(self, "_parameters", {})
        for name, value in check_parameter_types(
            self.name, declared, parameters
        ).items():
            setattr(self, name, value)
        self.problem = problem
        self._warn_full_size_defaults_on_a_small_model(parameters)
        self.recipe = {
            name: self.__dict__.get(name, default)
            for name, default in self.RECIPE_DEFAULTS.items()
        }
        self.n_steps = self._resolve_train_steps(problem)
        self.eval_every = problem.eval_every
        self.eval_every_final = problem.eval_every_final
        # Distributed (benchmark_utils/distributed.py): join the ranks if
        # launched on several, take rank 0's problem, one device per rank.
        self.dist, problem = distributed.setup_run(self, problem)
        self.problem = problem
        self.device = self.dist.device_for(resolve_device(problem.device))
        configure_backends(self.device, tf32=problem.tf32)
        if self.device.type == "cpu":
            keep_freed_memory()
        if problem.micro_batch_size == "auto":
            problem = self.problem = replace(
                problem, micro_batch_size=self._probe_micro_batch()
            )
        self.grad_accum = problem.grad_accum_steps(self.dist.world_size)
        self.grad_scale = problem.model_config.grad_scale(problem.batch_tokens)
        warmup = self.recipe["warmup"]
        self.warmup_steps = int(warmup) if warmup >= 1 else round(warmup * self.n_steps)
        # "always": compile on any device (CPU inductor, in tests).
        self.compiled = problem.compile == "always" or (
            bool(problem.compile) and self.device.type == "cuda"
        )
        self._peak_tflops = metrics.peak_tflops(self.device)
        try:
            self._start_run()
            if self.compiled:
                self._warm_up_compilation()
        except Exception as error:
            if self.dist.mode == "launcher":  # the ranks cannot stay in step
                distributed.fatal(self.dist, f"[{self.name}] set_objective", error)
            raise

    def run(self, callback):
        try:
            while True:
                if not self._consult(callback):
                    break
                if self.step >= self.n_steps or self.diverged:
                    break
                self._train_step()
            synchronize(self.device)
            self._dump_state()
        except Exception as error:
            self._record_status("error", f"{type(error).__name__}: {error}")
            if self.dist.mode == "launcher":  # the ranks cannot stay in step
                distributed.fatal(self.dist, f"[{self.name}] run", error)
            print(
                f"\n[{self.name}] the run failed at step {self.step} of "
                f"{self.n_steps}: {type(error).__name__}: {error}\n"
                "It is recorded as 'error' (run_status.json beside the "
                "results; python -m benchmark_utils.results counts it as a "
                "failed run); other runs go on.",
                file=sys.stderr,
                flush=True,
            )
            raise
        if not self.dist.is_leader and callback is not None:
            _settle_callback(callback, self)
        self._record_status("diverged" if self.diverged else "done")

    def get_result(self):
        if not self._in_evaluation:
            self.before_evaluation()
            self._in_evaluation = True
        if self._resume_time is not None:  # training time only
            self._train_time += time.perf_counter() - self._resume_time
            self._resume_time = None
        if self._result_step != self.step:
            # Summed over every rank's tokens: the global training loss.
            totals = torch.stack(
                [
                    self._loss_sum.double(),
                    torch.tensor(
                        float(self._loss_tokens),
                        dtype=torch.float64,
                        device=self.device,
                    ),
                ]
            )
            loss_sum, loss_tokens = distributed.all_reduce(totals, self.dist).tolist()
            self._train_loss = loss_sum / loss_tokens if loss_tokens else float("nan")
            self._loss_sum.zero_()
            self._loss_tokens = 0
            self._result_step = self.step
            self._metrics = self._throughput_metrics()
            if self.step > 0 and not math.isfinite(self._train_loss):
                self._report_divergence()
        return dict(
            model=self.eval_model,
            step=self.step,
            train_loss=self._train_loss,
            train_steps=self.n_steps,
            diverged=self.diverged,
            metrics=dict(self._metrics),
        )

    # -- internals --------------------------------------------------------

    def _warn_full_size_defaults_on_a_small_model(self, parameters):
        """A solver's defaults reproduce a full-size entry (learning rates for
        the 768-wide Track 3 model): on a small model, e.g. after
        ``-s adamw -s muon`` with a CPU config (benchopt then drops the
        config's tuned settings), say so rather than compare silently."""
        config = self.problem.model_config
        declared = type(self).parameters
        defaults = {name: values[0] for name, values in declared.items()}
        if config.n_embd >= 768 or not declared:
            return
        if all(
            parameters.get(name, value) == value for name, value in defaults.items()
        ):
            print(
                f"\n[{self.name}] note: running its full-size defaults (tuned "
                f"for the 768-wide Track 3 model) on a {config.n_embd}-wide "
                "model. For a fair small-problem comparison use the tuned "
                "settings of configs/cpu_compare.yml (benchopt run . --config "
                "configs/cpu_compare.yml) or tune with python -m "
                "benchmark_utils.sweep.",
                file=sys.stderr,
                flush=True,
            )

    def _resolve_train_steps(self, problem):
        """N: the objective's ``train_steps`` if set, else the solver's."""
        n_steps = problem.train_steps or self.recipe["train_steps"]
        if not n_steps:
            raise ValueError(
                f"solver {self.name!r} declares no train_steps and the "
                'objective sets none: add "train_steps": [N] to the '
                "solver's parameters (the step count its result claims), or "
                "pass -o '...[train_steps=N]'"
            )
        n_steps = int(n_steps)
        if n_steps < 1:
            raise ValueError(f"train_steps must be at least 1, got {n_steps}")
        if n_steps > problem.max_steps:
            raise ValueError(
                f"solver {self.name!r} trains for train_steps={n_steps} but "
                f"the objective's data budget is max_steps="
                f"{problem.max_steps}: raise max_steps (more shards are "
                "downloaded) or lower train_steps"
            )
        return n_steps

    def _start_run(self):
        """Fresh model, optimizers, data position and counters."""
        problem = self.problem
        self.model = build_model(
            problem.model_config, problem.init_seed, init=self.recipe["init"]
        )
        self.model.to(self.device)
        if self.dist.active:
            # Gradients summed across ranks once per step (DDP, SUM hook);
            # evaluation uses the bare model (no gradient hooks).
            self.ddp_model = distributed.wrap_model(self.model, self.dist, self.device)
            self.train_model = (
                torch.compile(self.ddp_model, dynamic=False)
                if self.compiled
                else self.ddp_model
            )
            self.eval_model = (
                torch.compile(self.model, dynamic=False)
                if self.compiled
                else self.model
            )
        else:
            self.ddp_model = None
            self.train_model = (
                torch.compile(self.model, dynamic=False)
                if self.compiled
                else self.model
            )
            self.eval_model = self.train_model
        self.optimizers = check_optimizers(
            self.build_optimizers(self.model.parameter_groups()),
            self.model,
            self.name,
        )
        # Muon-like optimizers split their step across ranks.
        self._optimizer_steps = distributed.optimizer_steps(
            self.optimizers, self.dist, self.device
        )
        self._base_lrs = [
            [group["lr"] for group in opt.param_groups] for opt in self.optimizers
        ]
        self.loader = BatchLoader(
            problem.train_files,
            problem.micro_batch_size,
            problem.seq_len,
            device=self.device,
            repeat=problem.repeat_data,
            order=problem.data_order,
            batch_tokens=problem.batch_tokens,
            bos_token=problem.bos_token,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
        )
        self.step = 0
        self._train_time = 0.0
        self._resume_time = None
        self._metrics = {}
        self._last_grads = None
        self._flops_per_token = metrics.flops_per_token(
            self.model, problem.model_config, problem.seq_len
        )
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        self.diverged = False
        self._loss_sum = torch.zeros((), device=self.device)
        self._loss_tokens = 0
        self._in_evaluation = False
        self._result_step = None
        self._train_loss = float("nan")

    def _warm_up_compilation(self, n_steps=2):
        """Compile the training and evaluation graphs outside the timed run,
        then start again from the same fresh model."""
        for _ in range(n_steps):
            self._train_step()
        self.get_result()
        x, y = (t.to(self.device) for t in self.loader.batch_at(0))
        self.eval_model.eval()
        with torch.no_grad():
            self.eval_model(x, y)  # the call evaluation makes
        self.eval_model.train()
        synchronize(self.device)
        self._start_run()

    def _consult(self, callback):
        """Call benchopt's callback (rank 0) and return whether to go on.

        Distributed: rank 0 says whether its callback evaluates now (the other
        ranks then evaluate with it: the evaluation is split across ranks) and
        whether to continue; every rank takes rank 0's decision."""
        if not self.dist.active:
            if self._evaluates_next(callback):
                # The callback does not synchronise: without this, queued
                # GPU work would be timed as evaluation.
                synchronize(self.device)
            return callback()
        if self.dist.is_leader:
            if self._evaluates_next(callback):
                synchronize(self.device)
                self.dist.broadcast_flags(1, 0)
                keep = bool(callback())
                self.dist.broadcast_flags(int(keep))
                return keep
            keep = bool(callback())
            self.dist.broadcast_flags(0, int(keep))
            return keep
        evaluate, keep = self.dist.broadcast_flags(0, 0)
        if evaluate:
            synchronize(self.device)
            self._evaluate_with_leader()
            (keep,) = self.dist.broadcast_flags(0)
        return bool(keep)

    def _evaluate_with_leader(self):
        """Ranks > 0: the evaluation rank 0's callback makes, the same calls
        (and so the same collectives) through the same objective."""
        result = self.get_result()
        objective = getattr(self, "_objective", None)
        if objective is not None:
            objective.evaluate_result(**result)

    def _throughput_metrics(self):
        """Throughput columns (benchmark_utils/metrics.py)."""
        problem = self.problem
        values = metrics.throughput(
            self.step,
            problem.batch_tokens,
            self._train_time,
            self._flops_per_token,
            self._peak_tflops,
            self.dist.world_size,
        )
        memory = torch.tensor(metrics.peak_memory_gib(self.device))
        if self.device.type == "cuda":
            memory = distributed.all_reduce(
                memory.to(self.device), self.dist, op=torch.distributed.ReduceOp.MAX
            ).cpu()
        values.update(
            peak_memory_gib=float(memory),
            world_size=float(self.dist.world_size),
            micro_batch_size=float(problem.micro_batch_size),
        )
        return values

    def _probe_micro_batch(self):
        """``micro_batch_size="auto"``: the largest power of two dividing this
        rank's sequences per step whose training step (forward, backward,
        optimizer step, on a throwaway model) fits in memory; the same on
        every rank (the smallest rank's). The global batch never changes. On
        CPU, at most Track 3's 64 sequences."""
        problem = self.problem
        per_rank = problem.sequences_per_rank(self.dist.world_size)
        cap = per_rank if self.device.type == "cuda" else min(per_rank, 64)
        size = 1
        while size * 2 <= cap and per_rank % (size * 2) == 0:
            size *= 2
        chosen = 0
        while size >= 1:
            if self._fits(size):
                chosen = size
                break
            size //= 2
        if self.dist.active:
            agreed = torch.tensor([chosen if chosen else -1])
            minimum = torch.distributed.ReduceOp.MIN
            chosen = int(distributed.all_reduce(agreed, self.dist, minimum))
        if chosen < 1:
            raise RuntimeError(
                f"micro_batch_size='auto': not even one sequence of seq_len="
                f"{problem.seq_len} fits in the memory of {self.device} (a "
                "forward, backward and optimizer step of the model): use a "
                "GPU with more memory or more GPUs"
            )
        print(
            f"[{self.name}] micro_batch_size='auto': {chosen} sequences per "
            f"micro-batch ({per_rank // chosen} per step and rank)",
            file=sys.stderr,
            flush=True,
        )
        return chosen

    def _fits(self, size):
        problem = self.problem
        model = optimizers = loss = None
        try:
            model = build_model(problem.model_config, problem.init_seed).to(self.device)
            optimizers = check_optimizers(
                self.build_optimizers(model.parameter_groups()), model, self.name
            )
            vocab = problem.model_config.vocab_size
            x = torch.randint(0, vocab, (size, problem.seq_len), device=self.device)
            loss = model(x, x)
            (loss * problem.model_config.grad_scale(problem.batch_tokens)).backward()
            for opt in optimizers:
                opt.step()
            synchronize(self.device)
            return True
        except torch.OutOfMemoryError:
            return False
        finally:
            del model, optimizers, loss
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    def _dump_state(self):
        """Test hook (``NANOGPT_DIST_DUMP``): save this rank's weights and
        last gradients."""
        folder = os.environ.get(distributed.ENV_DUMP)
        if not folder:
            return
        state = dict(
            params={
                n: p.detach().float().cpu() for n, p in self.model.named_parameters()
            },
            grads=self._last_grads,
            step=self.step,
        )
        torch.save(state, os.path.join(folder, f"{self.name}_rank{self.dist.rank}.pt"))

    def _evaluates_next(self, callback):
        next_stop = getattr(callback, "next_stopval", None)
        return next_stop is None or getattr(callback, "it", None) == next_stop

    def _set_learning_rates(self):
        recipe = self.recipe
        mult = lr_multiplier(
            self.step,
            self.n_steps,
            recipe["schedule"],
            self.warmup_steps,
            recipe["decay_fraction"],
            recipe["min_lr_ratio"],
        )
        for opt, base_lrs in zip(self.optimizers, self._base_lrs):
            for group, base_lr in zip(opt.param_groups, base_lrs):
                group["lr"] = base_lr * mult

    def _train_step(self):
        if self._in_evaluation:
            self.after_evaluation()
            self._in_evaluation = False
        if self._resume_time is None:
            self._resume_time = time.perf_counter()
        distributed.maybe_inject_fault(self.dist.rank, self.step)
        self._set_learning_rates()
        try:
            for micro in range(self.grad_accum):
                x, y = self.loader.next_batch()
                # Distributed: no communication until the last micro-batch,
                # whose backward sums the gradients across ranks (DDP).
                last = micro == self.grad_accum - 1
                with self._no_sync(not last):
                    loss = self.train_model(x, y)  # summed over the micro-batch
                    (loss * self.grad_scale).backward()
                self._loss_sum += loss.detach()
                self._loss_tokens += y.numel()
            if self.recipe["grad_clip"] > 0:
                torch.nn.utils.clip_grad_norm_(
                    self.model.parameters(), self.recipe["grad_clip"]
                )
            if os.environ.get(distributed.ENV_DUMP):
                self._last_grads = {
                    n: p.grad.detach().float().cpu()
                    for n, p in self.model.named_parameters()
                    if p.grad is not None
                }
            for step in self._optimizer_steps:
                step()
        except torch.OutOfMemoryError as error:
            raise RuntimeError(
                f"out of GPU memory with micro_batch_size="
                f"{self.problem.micro_batch_size} x seq_len="
                f"{self.problem.seq_len}: lower the objective's "
                "micro_batch_size (gradient accumulation keeps the global "
                "batch, and so the problem, unchanged)"
            ) from error
        # Some libraries (heavyball) already clear p.grad inside step():
        # nothing may rely on gradients after the step.
        self.model.zero_grad(set_to_none=True)
        self.step += 1

    def _no_sync(self, skip):
        if skip and self.ddp_model is not None:
            return self.ddp_model.no_sync()
        return contextlib.nullcontext()

    def _report_divergence(self):
        self.diverged = True
        print(
            f"\n[{self.name}] the training loss is {self._train_loss} at step "
            f"{self.step}: the run diverged and stops here. It stays in the "
            "results (NaN validation loss, diverged=1) and counts as a "
            "failed run in the results table; other runs go on. Lower the "
            "learning rate, lengthen the warmup or set grad_clip.",
            file=sys.stderr,
            flush=True,
        )

    def _record_status(self, status, message=""):
        """Leave a trace of how the run ended beside benchopt's results
        (benchopt drops crashed runs from its parquet)."""
        if not getattr(self, "dist", distributed.SINGLE).is_leader:
            return  # distributed: rank 0 alone writes files
        context = getattr(self, "_run_context", None)
        folder = run_status_folder(context)
        if folder is None:  # benchopt test, or no output folder: nothing to do
            return
        try:
            write_run_status(
                folder,
                status=status,
                step=self.step,
                train_steps=self.n_steps,
                message=message,
                context=context,
            )
        except OSError:
            traceback.print_exc()
        if status == "error" and isinstance(context, RunContext):
            exit_nonzero_at_the_end(f"{self.name} (step {self.step})")


def _settle_callback(callback, solver):
    """Ranks > 0 of a SLURM job run benchopt's loop with their own callback,
    which rank 0's decisions replace: leave it in a finished state so that
    benchopt's bookkeeping after ``run`` does not evaluate again (its result
    is discarded: the job's result is task 0's)."""
    if hasattr(callback, "status"):
        callback.status = "done"
        callback._last_result = dict(  # no collective: rank 0 is done
            model=solver.eval_model,
            step=solver.step,
            train_loss=solver._train_loss,
            train_steps=solver.n_steps,
            diverged=solver.diverged,
            metrics=dict(solver._metrics),
        )
        callback._last_it_log = getattr(callback, "it", 0) - 1
