from schedulefree import AdamWScheduleFree

from benchmark_utils.optim_groups import decay_groups
from benchmark_utils.trainer import TrainerSolver


class Solver(TrainerSolver):
    """Schedule-Free AdamW (Defazio et al. 2024), the official ``schedulefree``
    package. Training steps see the interpolated point y; evaluation must see
    the averaged weights x, so the optimizer is switched to ``eval()`` around
    every evaluation and back to ``train()`` before training resumes.

    Defaults (DESIGN.md section 4, AlgoPerf): lr 2.5e-3, betas (0.9, 0.9955),
    warmup 2% (the trainer's warmup; equivalent to the package's own),
    constant LR (no schedule: that is the point); weight decay 0.1 on matrices
    and clipping 1.0 as in the AdamW solver.
    """

    name = "schedule_free_adamw"
    requirements = ["pip::schedulefree"]
    parameters = {
        "lr": [2.5e-3],
        "betas": [(0.9, 0.9955)],
        "eps": [1e-8],
        "weight_decay": [0.1],
        "r": [0.0],
        "weight_lr_power": [2.0],
        "warmup": [0.02],
        "schedule": ["constant"],
        "grad_clip": [1.0],
    }

    def build_optimizers(self, groups):
        optimizer = AdamWScheduleFree(
            decay_groups(groups, self.weight_decay),
            lr=self.lr,
            betas=self.betas,
            eps=self.eps,
            r=self.r,
            weight_lr_power=self.weight_lr_power,
        )
        optimizer.train()
        return [optimizer]

    def before_evaluation(self):
        for optimizer in self.optimizers:
            optimizer.eval()  # parameters <- averaged weights x

    def after_evaluation(self):
        for optimizer in self.optimizers:
            optimizer.train()  # parameters <- training point y
