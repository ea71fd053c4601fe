"""The step loop shared by the optimizers of this package."""

import torch


class TensorwiseOptimizer(torch.optim.Optimizer):
    """A subclass lists its options (``lr`` excepted) and their defaults in
    ``OPTIONS`` and implements ``update(p, state, group)``, which ``step()``
    calls for every parameter with a gradient, group by group, without
    autograd; ``state`` is empty on the first call. A parameter whose
    ``grad`` is None is skipped: the distributed split step hides the
    gradients of the tensors another rank updates
    (``benchmark_utils.distributed.ShardedStep``)."""

    OPTIONS = {}
    # Each tensor's update depends on that tensor only, so the trainer may
    # split the step across ranks.
    shard_across_ranks = True
    matrices_only = True

    def __init__(self, params, lr, **options):
        unknown = sorted(set(options) - set(self.OPTIONS))
        if unknown:
            raise TypeError(
                f"{type(self).__name__} has no option {', '.join(unknown)}; "
                f"its options: lr, {', '.join(self.OPTIONS)}"
            )
        super().__init__(params, dict(self.OPTIONS, lr=lr, **options))
        for group in self.param_groups:
            for p in group["params"]:
                if self.matrices_only and p.ndim != 2:
                    raise ValueError(
                        f"{type(self).__name__} takes 2-D matrices only, got a "
                        f"parameter of shape {tuple(p.shape)}"
                    )

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            self.step_group(group)
        return loss

    def step_group(self, group):
        for p in group["params"]:
            if p.grad is not None:
                self.update(p, self.state[p], group)

    def update(self, p, state, group):
        raise NotImplementedError
