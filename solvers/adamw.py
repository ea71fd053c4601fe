import torch

from benchmark_utils.training.recipe import AUX_ADAMW_2, solver_aux_adamw
from benchmark_utils.training.trainer import TRACK3_SCHEDULE, TrainerSolver


class Solver(TrainerSolver):
    """AdamW on the hidden matrices, #2's aux AdamW on the rest.

    Defaults: modded-nanogpt Track 3 result #2 (``records/track_3_optimization
    /results/a63a68d1-24aa-4a22-af9a-224e43209ea4.txt``, the script before the
    ``====`` line; 5625 steps, 3.2790 with n=1, "most likely undertuned"):
    lr 0.0015, betas (0.9, 0.95), eps 1e-10, weight decay 0.1, fused on CUDA.
    Warmup ``min(1, (step + 1) / 250)`` on every group, then Track 3's
    schedule. Init ``torch_default``: #2 ran PyTorch's default init and only
    zeroed the tensors whose name contains ``proj``. N = 5625.
    """

    name = "adamw"
    parameters = {
        "lr": [0.0015],
        "betas": [(0.9, 0.95)],
        "eps": [1e-10],
        "weight_decay": [0.1],
        **AUX_ADAMW_2,  # embedding, head, scalars: #2's aux AdamW
        "train_steps": [5625],
        "init": ["torch_default"],
        **TRACK3_SCHEDULE,  # constant, linear to 0 over the last 70%
        "warmup": [250],  # min(1, (step + 1) / 250), on every group
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
        aux = solver_aux_adamw(self, groups)
        return [hidden, aux]
