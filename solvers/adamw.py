import torch

from benchmark_utils.optim_groups import decay_groups
from benchmark_utils.trainer import GPT2_SCHEDULE, TrainerSolver


class Solver(TrainerSolver):
    """AdamW, weight decay on matrices only.

    Defaults: GPT-2 / llm.c recipe (betas (0.9, 0.95), eps 1e-8, wd 0.1,
    cosine decay to 10%, clip 1.0) with the Track 3 suggestion lr 1.5e-3 and
    a ~250-step warmup (4% of the 6000-step default budget). Fused on CUDA.
    """

    name = "adamw"
    parameters = {
        "lr": [1.5e-3],
        "betas": [(0.9, 0.95)],
        "eps": [1e-8],
        "weight_decay": [0.1],
        **GPT2_SCHEDULE,
    }

    def build_optimizers(self, groups):
        return [
            torch.optim.AdamW(
                decay_groups(groups, self.weight_decay),
                lr=self.lr,
                betas=self.betas,
                eps=self.eps,
                fused=self.device.type == "cuda",
            )
        ]
