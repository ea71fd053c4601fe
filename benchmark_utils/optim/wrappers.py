"""Optimizer wrappers of the Track 3 record chain (#20 PowerCool, #39
EMA-Nesterov, #45/#46 Tail-EMA readout) around any list of optimizers,
written from modded-nanogpt ``records/track_3_optimization/README.md``
("Active techniques") and #46's script (``results/
20260619_cwd_rowfloor_tailema/``). No library provides them.

A wrapper's ``param_groups`` are its inner optimizers' groups (the same
dicts: the trainer's schedule and checks see every tensor once); ``step()``
steps them in order. Wrappers that evaluate other weights than they train
implement ``begin_evaluation`` / ``end_evaluation``, which a solver calls
from its ``before_evaluation`` / ``after_evaluation`` hooks. The EMAs'
work in ``step()`` is training time, as in the entries.
"""

import torch


class Wrapper:
    """Steps ``inner`` (optimizers or wrappers) in order, with optional work
    before (``_before``) and after (``_after``)."""

    def __init__(self, inner):
        self.inner = list(inner)
        self.step_count = 0

    @property
    def param_groups(self):
        return [group for opt in self.inner for group in opt.param_groups]

    @property
    def state(self):
        return {p: s for opt in self.inner for p, s in opt.state.items()}

    @torch.no_grad()
    def step(self, closure=None):
        self._before()
        for opt in self.inner:
            opt.step()
        self.step_count += 1
        self._after()

    def _before(self):
        pass

    def _after(self):
        pass

    def begin_evaluation(self):
        """Put the weights to evaluate in the parameters (outer first)."""
        for opt in self.inner:
            if hasattr(opt, "begin_evaluation"):
                opt.begin_evaluation()

    def end_evaluation(self):
        """Put the training weights back (inner first)."""
        for opt in reversed(self.inner):
            if hasattr(opt, "end_evaluation"):
                opt.end_evaluation()


class PowerCool(Wrapper):
    """Track 3 #20's power-law cooldown: for every inner group with a
    ``decay_start`` option, lr = min(lr, c (t_end - step)^power) with c set
    so that the decay meets the group's initial lr at ``decay_start``
    (the published form ``min(lr0, power_c (t_end - step)^power)``).
    ``lr`` is the group's lr as the trainer set it for this step."""

    def __init__(self, inner, t_end, power):
        super().__init__(inner)
        self.t_end, self.power = t_end, power
        for group in self.param_groups:
            if "decay_start" in group:
                span = t_end - group["decay_start"]
                group["power_c"] = group["lr"] / span**power

    def _before(self):
        left = max(0.0, self.t_end - self.step_count)
        for group in self.param_groups:
            if "power_c" in group:
                group["lr"] = min(group["lr"], group["power_c"] * left**self.power)


class EMANesterov(Wrapper):
    """EMA-Nesterov (Track 3 #39, arXiv:2605.25395): d = EMA of the change
    of the weights between steps (rate ``1 - ema``); the gradient is taken
    at w + s d with s = ``lookahead`` times the current lr ratio of
    ``ref_group`` (lr / initial lr, the lr of the previous step, as in the
    entry), from step ``prefill`` until ``rest``; the inner step is applied
    at that point. Here the look-ahead for the next step is applied at the
    end of ``step()`` (the trainer's forward comes next), and evaluation sees
    the weights without it, as in the entry."""

    def __init__(self, inner, params, ref_group, lookahead, ema, prefill, rest):
        super().__init__(inner)
        self.params = list(params)
        self.ref_group, self.ref_lr = ref_group, ref_group["lr"]
        self.lookahead, self.ema = lookahead, ema
        self.prefill, self.rest = prefill, rest
        self.prev = [p.detach().clone() for p in self.params]
        self.buffers = [torch.zeros_like(p) for p in self.params]
        self.shift = 0.0  # the look-ahead currently in the parameters

    def _after(self):
        for p, prev, buf in zip(self.params, self.prev, self.buffers):
            buf.lerp_(p - prev, 1 - self.ema)
            prev.copy_(p)
        it = self.step_count
        active = it + 1 > self.prefill and it < self.rest
        self.shift = (
            self.lookahead * self.ref_group["lr"] / self.ref_lr if active else 0.0
        )
        self._apply_shift()

    def _apply_shift(self):
        if self.shift:
            for p, buf in zip(self.params, self.buffers):
                p.add_(buf, alpha=self.shift)

    @torch.no_grad()
    def begin_evaluation(self):
        if self.shift:
            for p, prev in zip(self.params, self.prev):
                p.copy_(prev)
        super().begin_evaluation()

    @torch.no_grad()
    def end_evaluation(self):
        super().end_evaluation()
        if self.shift:
            for p, prev in zip(self.params, self.prev):
                p.copy_(prev)
            self._apply_shift()


class TailEMA(Wrapper):
    """Tail-EMA readout (Track 3 #45, #46): after each step k (1-based) with
    ``start <= k < end``, ema += (w - ema) / tau for ``params`` (initialised
    to w at the first such step); evaluation sees (1 - blend) w + blend ema.
    Training never sees the average."""

    def __init__(self, inner, params, tau, start, end, blend):
        super().__init__(inner)
        self.params = list(params)
        self.tau, self.start, self.end, self.blend = tau, start, end, blend
        self.averages = None
        self.stash = None

    def _after(self):
        if not self.start <= self.step_count < self.end:
            return
        if self.averages is None:
            self.averages = [p.detach().float().clone() for p in self.params]
            return
        for p, avg in zip(self.params, self.averages):
            avg.add_(p.detach().float() - avg, alpha=1.0 / self.tau)

    @torch.no_grad()
    def begin_evaluation(self):
        super().begin_evaluation()
        if self.averages is not None:
            self.stash = [p.detach().clone() for p in self.params]
            for p, avg in zip(self.params, self.averages):
                p.copy_(((1 - self.blend) * p.float() + self.blend * avg).to(p.dtype))

    @torch.no_grad()
    def end_evaluation(self):
        if self.stash is not None:
            for p, saved in zip(self.params, self.stash):
                p.copy_(saved)
            self.stash = None
        super().end_evaluation()
