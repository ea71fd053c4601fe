from schedulefree import AdamWScheduleFree

from benchmark_utils.training.recipe import role_groups
from benchmark_utils.training.trainer import TrainerSolver


class Solver(TrainerSolver):
    """Schedule-Free AdamW (Defazio et al. 2024, the official ``schedulefree``
    package) on every parameter, with Track 3's grouping as param groups.

    Training steps see the interpolated point y; evaluation must see the
    averaged weights x, so the optimizer is switched to ``eval()`` around
    every evaluation. It takes every parameter, not only the hidden
    matrices: the evaluated model must be the average for all of its
    tensors, and schedule-free replaces the LR decay that an aux AdamW
    needs. Its averaging weight ``c_t = lr_max_t^2 / sum`` is the same in
    every group, since all groups share the schedule's multiplier.

    No Track 3 result uses Schedule-Free: AdamW #2's settings per role, the
    decay removed; betas (0.9, 0.95) everywhere (beta1 is schedule-free's
    interpolation, 0.9 its default); r = 0, weight_lr_power 2 (the package's
    defaults); #2's 250-step warmup through the trainer, then a constant LR.
    The paper finds schedule-free's best lr somewhat larger than a scheduled
    AdamW's: tune the lrs first. Baseline init. N = 5625, AdamW #2's.
    """

    name = "schedule_free_adamw"
    requirements = ["pip::schedulefree"]
    parameters = {
        "lr": [0.0015],
        "weight_decay": [0.1],
        "embedding_lr": [0.3],
        "head_lr": [1 / 320],  # also a tied embedding's (classic GPT-2)
        "scalar_lr": [0.01],
        "aux_weight_decay": [0.0],
        "betas": [(0.9, 0.95)],
        "eps": [1e-10],
        "r": [0.0],
        "weight_lr_power": [2.0],
        "train_steps": [5625],
        "init": ["baseline"],
        "schedule": ["constant"],
        "warmup": [250],
        "grad_clip": [0.0],
    }

    def build_optimizers(self, groups):
        aux = dict(weight_decay=self.aux_weight_decay)
        optimizer = AdamWScheduleFree(
            role_groups(
                groups,
                hidden_matrices=dict(lr=self.lr, weight_decay=self.weight_decay),
                embedding=dict(lr=self.embedding_lr, **aux),
                head=dict(lr=self.head_lr, **aux),
                scalars=dict(lr=self.scalar_lr, **aux),
            ),
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
