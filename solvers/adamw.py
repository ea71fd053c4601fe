import torch

from benchmark_utils.trainer import TrainerSolver


class Solver(TrainerSolver):
    """AdamW, weight decay on matrices only (GPT-2 / llm.c recipe: betas
    (0.9, 0.95), eps 1e-8, warmup then cosine decay to 10%)."""

    name = "adamw"
    parameters = {
        "lr": [1.5e-3],
        "betas": [(0.9, 0.95)],
        "eps": [1e-8],
        "weight_decay": [0.1],
        "warmup": [0.04],  # ~250 steps of the 6000-step default budget
        "schedule": ["cosine"],
        "min_lr_ratio": [0.1],
        "grad_clip": [1.0],
    }

    def build_optimizers(self, groups):
        matrices = groups.hidden_matrices + groups.embedding + groups.head
        return [
            torch.optim.AdamW(
                [
                    dict(params=matrices, weight_decay=self.weight_decay),
                    dict(params=groups.scalars, weight_decay=0.0),
                ],
                lr=self.lr,
                betas=self.betas,
                eps=self.eps,
                fused=self.device.type == "cuda",
            )
        ]
