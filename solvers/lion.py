from pytorch_optimizer import Lion

from benchmark_utils.training.recipe import AUX_ADAMW_36, solver_aux_adamw
from benchmark_utils.training.trainer import TRACK3_SCHEDULE, TrainerSolver


class Solver(TrainerSolver):
    """Lion (Chen et al. 2023, sign of an interpolated momentum) on the
    hidden matrices, AdamW on the embedding, head and scalars.
    pytorch-optimizer's implementation (decoupled decay ``p *= 1 - lr wd``).

    No Track 3 result uses Lion: a starting point from the paper's rule for
    moving from AdamW, applied to Track 3's AdamW result #2 (lr 0.0015,
    weight decay 0.1): a 10x smaller learning rate and a 10x larger weight
    decay (the paper: 3-10x each, keeping lr x wd), so lr 1.5e-4 and weight
    decay 1.0; betas (0.95, 0.98), the paper's setting for language models.
    Aux AdamW: #36's (embedding 0.7, head 0.004, scalars 0.015, betas (0.8,
    0.95), eps 1e-10, weight decay 0.001). Baseline init, Track 3's schedule
    (constant, then linear to 0 over the last 70%; no warmup, no clipping).
    N = 5625, AdamW #2's step count: the published result of the optimizer
    family Lion is derived from (none exists for Lion).
    """

    name = "lion"
    requirements = ["pip::pytorch-optimizer"]
    parameters = {
        "lr": [1.5e-4],
        "betas": [(0.95, 0.98)],
        "weight_decay": [1.0],
        **AUX_ADAMW_36,  # embedding, head, scalars: #36's aux AdamW
        "train_steps": [5625],
        "init": ["baseline"],
        **TRACK3_SCHEDULE,  # constant, linear to 0 over the last 70%
    }

    def build_optimizers(self, groups):
        lion = Lion(
            groups.hidden_matrices,
            lr=self.lr,
            betas=self.betas,
            weight_decay=self.weight_decay,
        )
        aux = solver_aux_adamw(self, groups)
        return [lion, aux]
