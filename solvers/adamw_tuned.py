import torch

from benchmark_utils.training.recipe import AUX_ADAMW_36, solver_aux_adamw
from benchmark_utils.training.trainer import TRACK3_SCHEDULE, TrainerSolver


class Solver(TrainerSolver):
    """AdamW on the hidden matrices with the tuned settings of the open pull
    request "Tune AdamW baseline to 4950 steps" (KellerJordan/modded-nanogpt
    #353; NOT on the Track 3 leaderboard yet). The leaderboard's AdamW (#2,
    ``adamw``) is "most likely undertuned": a fair comparison needs this one.

    Source: the PR's logs, ``records/track_3_optimization/results/
    20260701_tuned_adamw_steps_4950_wd_1_wd2_0.002_matrix_b2_0.9/`` (the
    script before the ``====`` line; 4950 steps, mean 3.2776, n=10): #36's
    ``train_gpt_simple.py`` with AdamW in place of Muon (lr 0.001, betas
    (0.9, 0.9), eps 1e-8, weight decay 1.0), #36's aux AdamW with weight
    decay 0.002, baseline init, Track 3's schedule; N = 4950.

    Warmup on every group over 100 steps. The script uses
    ``min(warmup, decay)`` with warmup ``(1e-7 + step/100 (lr - 1e-7)) /
    lr``; the trainer multiplies by ``min(1, (step + 1) / 100)``: the same
    ramp one step earlier (the decay starts at step 1485, so min and product
    agree). A deviation of one warmup step, stated, not hidden.
    """

    name = "adamw_tuned"
    parameters = {
        "lr": [0.001],
        "betas": [(0.9, 0.9)],
        "eps": [1e-8],
        "weight_decay": [1.0],
        **AUX_ADAMW_36,  # embedding 0.7, head 0.004, scalars 0.015
        "adam_weight_decay": [0.002],  # the PR's aux weight decay
        "train_steps": [4950],
        "init": ["baseline"],
        **TRACK3_SCHEDULE,  # constant, linear to 0 over the last 70%
        "warmup": [100],
    }

    def build_optimizers(self, groups):
        hidden = torch.optim.AdamW(
            groups.hidden_matrices,
            lr=self.lr,
            betas=self.betas,
            eps=self.eps,
            weight_decay=self.weight_decay,
            fused=self.device.type == "cuda",
        )
        return [hidden, solver_aux_adamw(self, groups)]
