from pytorch_optimizer import Lion

from benchmark_utils.optim_groups import decay_groups
from benchmark_utils.trainer import GPT2_SCHEDULE, TrainerSolver


class Solver(TrainerSolver):
    """Lion (Chen et al. 2023), pytorch-optimizer's implementation.

    Defaults from the paper's guidance: LR 10x smaller and weight decay 10x
    larger than AdamW's (AdamW solver: 1.5e-3, 0.1), betas (0.95, 0.98) as
    used there for language models; the AdamW solver's warmup, cosine decay
    to 10% and clipping. Decoupled weight decay on matrices only.
    """

    name = "lion"
    requirements = ["pip::pytorch-optimizer"]
    parameters = {
        "lr": [1.5e-4],
        "betas": [(0.95, 0.98)],
        "weight_decay": [1.0],
        **GPT2_SCHEDULE,
    }

    def build_optimizers(self, groups):
        return [
            Lion(decay_groups(groups, self.weight_decay), lr=self.lr, betas=self.betas)
        ]
