import torch

from benchmark_utils.optim_groups import decay_groups
from benchmark_utils.trainer import GPT2_SCHEDULE, TrainerSolver


class Solver(TrainerSolver):
    """SGD with Nesterov momentum (torch.optim.SGD, Sutskever et al. 2013).

    No published GPT-2 configuration exists: momentum 0.9 is the standard
    value, the LR was picked on the CPU synthetic task, and the recipe
    (warmup, cosine to 10%, clipping at 1.0) is the AdamW solver's. Weight
    decay is torch's coupled L2 term, on matrices only.
    """

    name = "sgd"
    parameters = {
        "lr": [0.3],
        "momentum": [0.9],
        "nesterov": [True],
        "weight_decay": [0.0],
        **GPT2_SCHEDULE,
    }

    def build_optimizers(self, groups):
        return [
            torch.optim.SGD(
                decay_groups(groups, self.weight_decay),
                lr=self.lr,
                momentum=self.momentum,
                nesterov=self.nesterov,
            )
        ]
