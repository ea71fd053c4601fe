from pytorch_optimizer import SOAP

from benchmark_utils.optim_groups import decay_groups
from benchmark_utils.trainer import GPT2_SCHEDULE, TrainerSolver


class Solver(TrainerSolver):
    """SOAP (Vyas et al. 2024): Adam in the eigenbasis of Shampoo's
    preconditioner, pytorch-optimizer's implementation (it matches the
    paper's algorithm in tests/test_optimizers.py; heavyball's SOAP refreshes
    the eigenbasis on a drifting schedule, see the test).

    Defaults from the SOAP paper / DESIGN.md section 4: lr 3e-3, betas
    (0.95, 0.95), shampoo_beta = beta2, precondition frequency 10, max
    preconditioner dim 10000 (larger dims, e.g. the vocabulary, are not
    rotated), weight decay 0.01 (library default); the AdamW solver's warmup,
    cosine decay to 10% and clipping. All parameters, vectors use plain Adam.
    """

    name = "soap"
    requirements = ["pip::pytorch-optimizer"]
    parameters = {
        "lr": [3e-3],
        "betas": [(0.95, 0.95)],
        "shampoo_beta": [None],  # None: betas[1]
        "eps": [1e-8],
        "weight_decay": [0.01],
        "precondition_frequency": [10],
        "max_precond_dim": [10000],
        **GPT2_SCHEDULE,
    }

    def build_optimizers(self, groups):
        return [
            SOAP(
                decay_groups(groups, self.weight_decay),
                lr=self.lr,
                betas=self.betas,
                shampoo_beta=self.shampoo_beta,
                eps=self.eps,
                precondition_frequency=self.precondition_frequency,
                max_precondition_dim=self.max_precond_dim,
            )
        ]
