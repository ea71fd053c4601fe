from pytorch_optimizer import Lion

from benchmark_utils.training.recipe import AUX_ADAMW_36, solver_aux_adamw
from benchmark_utils.training.trainer import TRACK3_SCHEDULE, TrainerSolver


class Solver(TrainerSolver):
    """Lion (Chen et al. 2023, sign of an interpolated momentum;
    pytorch-optimizer's, decoupled decay ``p *= 1 - lr wd``) on the hidden
    matrices, #36's aux AdamW on the rest.

    No Track 3 result uses Lion: the paper's rule for moving from AdamW
    (3-10x smaller lr, 3-10x larger weight decay) applied 10x to AdamW #2
    (lr 0.0015, weight decay 0.1); betas (0.95, 0.98), the paper's setting
    for language models. Baseline init, Track 3's schedule. N = 5625, AdamW
    #2's: the published result of the family Lion is derived from.
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
