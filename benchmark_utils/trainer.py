"""The benchmark's one training loop, shared by every solver.

A solver subclasses :class:`TrainerSolver`, declares its ``parameters`` and
implements ``build_optimizers(groups)``. Everything else (fresh model from the
run's seed, data order, gradient accumulation, LR schedule, clipping,
precision, compilation, timing discipline, divergence handling) is here, once,
so that every optimizer is trained under exactly the same conditions.
"""

import math
import sys
from dataclasses import dataclass

import torch
from benchopt import BaseSolver

from .loader import BatchLoader
from .models import build_model
from .runtime import configure_backends, resolve_device, synchronize
from .schedules import lr_multiplier
from .stopping import TargetLossCriterion


@dataclass(frozen=True)
class TrainingProblem:
    """What the objective fixes for every solver (see ``Objective.get_objective``)."""

    model_config: object
    init_seed: int
    train_files: tuple
    seq_len: int
    batch_tokens: int
    micro_batch_size: int
    max_steps: int
    eval_every: int
    device: str = "auto"
    compile: bool = True
    repeat_data: bool = False
    bos_aligned: bool = False  # every sequence starts at a document boundary
    bos_token: int = None  # the document separator, for bos_aligned

    def grad_accum_steps(self, world_size=1):
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


# The GPT-2 / llm.c recipe's schedule (warmup ~250 of the 6000 default steps,
# cosine decay to 10%, clipping at 1.0), shared by the solvers that have no
# published schedule of their own: ``parameters = {..., **GPT2_SCHEDULE}``.
GPT2_SCHEDULE = {
    "warmup": [0.04],
    "schedule": ["cosine"],
    "min_lr_ratio": [0.1],
    "grad_clip": [1.0],
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
    stopping_criterion = TargetLossCriterion(strategy="callback")
    requirements = []

    # Recipe settings a solver may expose (and sweep) through ``parameters``,
    # with their defaults. They are not class attributes: benchopt does not
    # set a parameter whose name is already a class attribute.
    RECIPE_DEFAULTS = dict(
        schedule="constant",  # see schedules.SCHEDULES
        warmup=0.0,  # >= 1: steps; < 1: fraction of the step budget
        decay_fraction=0.2,  # the decay part of the "wsd" schedule
        min_lr_ratio=0.0,  # final LR / base LR for decaying schedules
        grad_clip=0.0,  # max global gradient norm; 0 disables clipping
    )

    # Replaced by the objective's evaluation interval in set_objective; a
    # class attribute so that get_next works on a bare Solver().
    eval_every = 1

    def build_optimizers(self, groups):
        """Return the optimizer(s) for ``groups`` (a ``ParameterGroups``)."""
        raise NotImplementedError

    def before_evaluation(self):
        """Hook: called before the model is evaluated (e.g. swap in averaged
        weights)."""

    def after_evaluation(self):
        """Hook: called before training resumes after an evaluation."""

    def get_next(self, stop_val):
        return stop_val + self.eval_every

    # -- benchopt API -----------------------------------------------------

    def set_objective(self, problem):
        self.problem = problem
        self.eval_every = problem.eval_every
        self.max_steps = problem.max_steps
        self.device = resolve_device(problem.device)
        configure_backends(self.device)
        self.grad_accum = problem.grad_accum_steps()
        self.grad_scale = problem.model_config.grad_scale(problem.batch_tokens)
        self.recipe = {
            name: self.__dict__.get(name, default)
            for name, default in self.RECIPE_DEFAULTS.items()
        }
        warmup = self.recipe["warmup"]
        self.warmup_steps = (
            int(warmup) if warmup >= 1 else round(warmup * self.max_steps)
        )
        self.compiled = bool(problem.compile) and self.device.type == "cuda"
        self._start_run()
        if self.compiled:
            self._warm_up_compilation()

    def run(self, callback):
        while True:
            if self._evaluates_next(callback):
                # The callback does not synchronise: without this, queued GPU
                # work would be timed as evaluation.
                synchronize(self.device)
            if not callback() or self.step >= self.max_steps or self.diverged:
                break
            self._train_step()
        synchronize(self.device)

    def get_result(self):
        if not self._in_evaluation:
            self.before_evaluation()
            self._in_evaluation = True
        if self._result_step != self.step:
            self._train_loss = (
                (self._loss_sum / self._loss_count).item()
                if self._loss_count
                else float("nan")
            )
            self._loss_sum.zero_()
            self._loss_count = 0
            self._result_step = self.step
            if self.step > 0 and not math.isfinite(self._train_loss):
                self._report_divergence()
        return dict(model=self.eval_model, step=self.step, train_loss=self._train_loss)

    # -- internals --------------------------------------------------------

    def _start_run(self):
        """Fresh model, optimizers, data position and counters."""
        problem = self.problem
        self.model = build_model(problem.model_config, problem.init_seed)
        self.model.to(self.device)
        self.train_model = torch.compile(self.model) if self.compiled else self.model
        self.eval_model = self.train_model
        self.optimizers = check_optimizers(
            self.build_optimizers(self.model.parameter_groups()),
            self.model,
            self.name,
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
            bos_aligned=problem.bos_aligned,
            bos_token=problem.bos_token,
        )
        self.step = 0
        self.diverged = False
        self._loss_sum = torch.zeros((), device=self.device)
        self._loss_count = 0
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

    def _evaluates_next(self, callback):
        next_stop = getattr(callback, "next_stopval", None)
        return next_stop is None or getattr(callback, "it", None) == next_stop

    def _set_learning_rates(self):
        recipe = self.recipe
        mult = lr_multiplier(
            self.step,
            self.max_steps,
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
        self._set_learning_rates()
        try:
            for _ in range(self.grad_accum):
                x, y = self.loader.next_batch()
                loss = self.train_model(x, y)  # summed over the micro-batch
                (loss * self.grad_scale).backward()
                self._loss_sum += loss.detach()
                self._loss_count += x.numel()
            if self.recipe["grad_clip"] > 0:
                torch.nn.utils.clip_grad_norm_(
                    self.model.parameters(), self.recipe["grad_clip"]
                )
            for opt in self.optimizers:
                opt.step()
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

    def _report_divergence(self):
        self.diverged = True
        print(
            f"\n[{self.name}] the training loss is {self._train_loss} at step "
            f"{self.step}: the run diverged and stops here (benchopt records "
            "it as 'diverged'; results of other runs are kept). Lower the "
            "learning rate, lengthen the warmup or set grad_clip.",
            file=sys.stderr,
            flush=True,
        )
