import torch

from benchmark_utils.training.recipe import AUX_ADAMW_36, solver_aux_adamw
from benchmark_utils.training.trainer import TRACK3_SCHEDULE, TrainerSolver


class Solver(TrainerSolver):
    """SGD with Nesterov momentum (torch.optim.SGD) on the hidden matrices,
    #36's aux AdamW on the rest.

    No published configuration exists: a baseline, not a reproduction.
    Momentum 0.9; no weight decay (torch's is an L2 term). SGD's step scales
    with Track 3's summed-loss gradient, so its lr depends on the batch and
    the width: 3e-6 is an untested extrapolation from the best of {1e-3,
    1e-2, 3e-2, 1e-1} on tests/test_solvers_train.py's tiny model (3e-2 at
    512 tokens, width 64) times 512 / 524,288 and 64 / 768. Sweep it.
    Baseline init, Track 3's schedule. N = 5625, AdamW #2's (the slowest
    elementwise baseline); SGD is not expected to reach 3.28 there. On the
    classic GPT-2 problem (mean-loss gradient) scale the lr back up.
    """

    name = "sgd"
    parameters = {
        "lr": [3e-6],
        "momentum": [0.9],
        "nesterov": [True],
        "weight_decay": [0.0],
        **AUX_ADAMW_36,  # embedding, head, scalars: #36's aux AdamW
        "train_steps": [5625],
        "init": ["baseline"],
        **TRACK3_SCHEDULE,  # constant, linear to 0 over the last 70%
    }

    def build_optimizers(self, groups):
        sgd = torch.optim.SGD(
            groups.hidden_matrices,
            lr=self.lr,
            momentum=self.momentum,
            nesterov=self.nesterov,
            weight_decay=self.weight_decay,
        )
        aux = solver_aux_adamw(self, groups)
        return [sgd, aux]
