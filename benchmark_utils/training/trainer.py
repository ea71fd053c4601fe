"""The benchmark's one training loop, shared by every solver.

A solver subclasses :class:`TrainerSolver`, declares its ``parameters`` and
implements ``build_optimizers(groups)``; everything else is here, once, so
that every optimizer trains under the same conditions. ``_train_step`` is the
training loop of modded-nanogpt ``records/track_3_optimization/
train_gpt_simple.py``: set the learning rates from the schedule, forward and
backward each micro-batch (gradients summed across ranks on the last one),
step every optimizer, zero the gradients.
"""

import contextlib
import math
import sys
import time
from dataclasses import replace

import numpy as np
import torch
from benchopt import BaseSolver

from .. import benchopt_compat as compat
from .. import distributed
from ..data.loader import BatchLoader
from ..models import build_model
from . import metrics, probe, protocol
from .recipe import (  # noqa: F401 - the names a solver file imports with it
    TRACK3_SCHEDULE,
    SolverContractError,
    check_optimizers,
    lr_multiplier,
    set_parameters,
)
from .runtime import configure_backends, keep_freed_memory, resolve_device, synchronize


class TrainerSolver(BaseSolver):
    """Base class of every solver: holds the only training loop."""

    sampling_strategy = "callback"
    stopping_criterion = protocol.ProtocolCriterion(strategy="callback")
    requirements = []

    # Set in set_objective; class attributes so that benchopt's check
    # get_next(1) works on a bare Solver().
    n_steps = eval_every = eval_every_final = 1

    def build_optimizers(self, groups):
        """Return the optimizer(s) for ``groups`` (a ``ParameterGroups``)."""
        raise NotImplementedError

    def init_model(self, model):
        """Hook: an entry's own initialisation of the fresh model (on the CPU,
        with the run's seed set). The default keeps the ``init`` scheme's."""

    def before_evaluation(self):
        """Hook: called before the model is evaluated (e.g. swap in averaged
        weights)."""

    def after_evaluation(self):
        """Hook: called before training resumes after an evaluation."""

    def get_next(self, stop_val):
        return protocol.next_evaluation(
            stop_val, self.n_steps, self.eval_every, self.eval_every_final
        )

    # -- benchopt API -------------------------------------------------------

    def set_objective(self, problem):
        self.step, self.dist = 0, distributed.SINGLE
        try:
            self._set_up(problem)
        except Exception as error:
            self._fail(error)

    def run(self, callback):
        protocol.record_status(self, "running")
        try:
            while self._consult(callback):
                if self.step >= self.n_steps or self.diverged:
                    break
                self._train_step()
            synchronize(self.device)
        except KeyboardInterrupt:
            protocol.record_end(self, "interrupted")
            raise
        except Exception as error:
            self._fail(error)
        if not self.dist.is_leader and callback is not None:
            compat.settle_callback(callback, self._result())
        protocol.record_end(self, compat.callback_status(callback))

    def get_result(self):
        synchronize(self.device)  # ranks > 0: no callback synchronised it
        if not self._in_evaluation:
            self.before_evaluation()
            self._in_evaluation = True
        if self._resume_time is not None:  # training time only
            self._train_time += time.perf_counter() - self._resume_time
            self._resume_time = None
        if self._result_step != self.step:
            # Summed over every rank's tokens: the global training loss.
            totals = torch.stack([self._loss_sum.double(), self._loss_tokens.double()])
            loss_sum, tokens = distributed.all_reduce(totals, self.dist).tolist()
            self._train_loss = loss_sum / tokens if tokens else float("nan")
            self._loss_sum.zero_()
            self._loss_tokens.zero_()
            self._result_step = self.step
            self._metrics = metrics.throughput(
                self.step,
                self.problem.batch_tokens,
                self._train_time,
                self._flops_per_token,
                self._peak_tflops,
                self.dist.world_size,
            )
            self._metrics.update(
                peak_memory_gib=metrics.peak_memory_gib(self.device, self.dist),
                micro_batch_size=float(self.problem.micro_batch_size),
            )
            if self.step > 0 and not math.isfinite(self._train_loss):
                self._report_divergence()
        return self._result()

    # -- set-up -------------------------------------------------------------

    def _set_up(self, problem):
        set_parameters(self, compat.solver_parameters(self), problem.model_config)
        self.n_steps = problem.n_steps_for(self.name, self.train_steps)
        self.eval_every = problem.eval_every
        self.eval_every_final = problem.eval_every_final
        # Distributed: join the ranks if launched on several, take rank 0's
        # problem, one device per rank.
        self.dist, problem = distributed.setup_run(
            self, problem, resolve_device(problem.device)
        )
        self.device = self.dist.device_for(resolve_device(problem.device))
        configure_backends(self.device, tf32=problem.tf32)
        if self.device.type == "cpu":
            keep_freed_memory()
        self.compiled = problem.compiles_on(self.device)
        if problem.micro_batch_size == "auto":
            size = probe.largest_micro_batch(self, problem, self.dist, self.compiled)
            problem = replace(problem, micro_batch_size=size)
        self.problem = problem
        self.grad_accum = problem.grad_accum_steps(self.dist.world_size)
        self.grad_scale = problem.model_config.grad_scale(problem.batch_tokens)
        warmup = self.warmup
        self.warmup_steps = int(warmup) if warmup >= 1 else round(warmup * self.n_steps)
        self._peak_tflops = metrics.peak_tflops(self.device)
        self._start_run()
        if self.compiled:
            self._warm_up_compilation()

    def _start_run(self):
        """Fresh model, optimizers, data position and counters."""
        problem = self.problem
        self.model = build_model(
            problem.model_config, problem.init_seed, init=self.init
        )
        with torch.random.fork_rng(devices=[]):  # seeded: the same every run
            torch.manual_seed(problem.init_seed)
            self.init_model(self.model)
        self.model.to(self.device)
        # Optimizers that draw random numbers use torch's global generator
        # (PSGD's probes) or NumPy's (pytorch-optimizer Kron's balancing):
        # seeded per run, a run never depends on what ran before it, and
        # every rank draws the same numbers.
        torch.manual_seed(problem.init_seed)
        np.random.seed(problem.init_seed)
        # Distributed: gradients summed across ranks once per step (DDP, SUM
        # hook); evaluation uses the bare model (no gradient hooks).
        self.ddp_model = None
        if self.dist.active:
            self.ddp_model = distributed.wrap_model(self.model, self.dist, self.device)

        def compile_(model):  # static shapes, as the Track 3 script compiles
            return torch.compile(model, dynamic=False) if self.compiled else model

        self.train_model = compile_(self.ddp_model or self.model)
        self.eval_model = compile_(self.model) if self.dist.active else self.train_model
        self.optimizers = check_optimizers(
            self.build_optimizers(self.model.parameter_groups()), self.model, self.name
        )
        # Muon-like optimizers split their step across ranks.
        self._optimizer_steps = distributed.optimizer_steps(
            self.optimizers, self.dist, self.device
        )
        self._base_lrs = [[g["lr"] for g in o.param_groups] for o in self.optimizers]
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
        self._train_time, self._resume_time, self._metrics = 0.0, None, {}
        self._flops_per_token = metrics.flops_per_token(
            self.model, problem.model_config, problem.seq_len
        )
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        self.diverged = False
        self._loss_sum = torch.zeros((), device=self.device)
        self._loss_tokens = torch.zeros((), dtype=torch.int64, device=self.device)
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

    # -- the loop -----------------------------------------------------------

    def _train_step(self):
        if self._in_evaluation:
            self.after_evaluation()
            self._in_evaluation = False
        if self._resume_time is None:
            self._resume_time = time.perf_counter()
        self._set_learning_rates()
        try:
            for micro in range(self.grad_accum):
                x, y = self.loader.next_batch()
                # Distributed: no communication until the last micro-batch,
                # whose backward sums the gradients across ranks (DDP).
                with self._no_sync(micro < self.grad_accum - 1):
                    loss = self.train_model(x, y)  # summed over the micro-batch
                    (loss * self.grad_scale).backward()
                self._loss_sum += loss.detach()
                self._loss_tokens += y.numel()
            if self.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            for step in self._optimizer_steps:
                step()
        except RuntimeError as error:  # torch.OutOfMemoryError, cuBLAS's
            probe.advise_on_out_of_memory(error, self.problem)
            raise
        # Some libraries (heavyball) already clear p.grad inside step():
        # nothing may rely on gradients after the step.
        self.model.zero_grad(set_to_none=True)
        self.step += 1

    def _set_learning_rates(self):
        mult = lr_multiplier(
            self.step,
            self.n_steps,
            self.schedule,
            self.warmup_steps,
            self.decay_fraction,
            self.min_lr_ratio,
        )
        for opt, base_lrs in zip(self.optimizers, self._base_lrs):
            # An optimizer may follow its own schedule: opt.lr_multiplier.
            own = getattr(opt, "lr_multiplier", None)
            factor = own(self.step, self.n_steps) if own else mult
            for group, base_lr in zip(opt.param_groups, base_lrs):
                group["lr"] = base_lr * factor

    def _no_sync(self, skip):
        if skip and self.ddp_model is not None:
            return self.ddp_model.no_sync()
        return contextlib.nullcontext()

    # -- evaluation, divergence, failure ------------------------------------

    def _consult(self, callback):
        """Call benchopt's callback and return whether to go on; distributed,
        rank 0's callback decides for every rank."""
        if not self.dist.is_leader:
            return distributed.follow_decision(self.dist, self)
        evaluates = compat.evaluates_next(callback)
        if evaluates:  # the callback does not synchronise the GPU
            synchronize(self.device)
        return distributed.lead_decision(self.dist, evaluates, callback)

    def _result(self):
        return dict(
            model=self.eval_model,
            step=self.step,
            train_loss=self._train_loss,
            train_steps=self.n_steps,
            diverged=self.diverged,
            metrics=dict(self._metrics),
            dist=self.dist,
        )

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

    def _fail(self, error):
        """Record the failed run; under the launcher, end the whole job (the
        ranks can no longer stay in step)."""
        message = distributed.explain_failure(self.dist, error)
        protocol.record_status(self, "error", message)
        error.run_name = f"{self.name} (step {self.step})"  # for the boundary
        if self.dist.mode == "launcher":
            raise distributed.RankFailure(f"[{self.name}] {message}") from error
        raise error
