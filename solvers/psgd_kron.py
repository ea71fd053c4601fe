from pytorch_optimizer import Kron

from benchmark_utils.training.recipe import AUX_ADAMW_36, role_groups, solver_aux_adamw
from benchmark_utils.training.trainer import TRACK3_SCHEDULE, TrainerSolver


class Solver(TrainerSolver):
    """PSGD-Kron (Li 2015/2018; Kronecker-factored whitening preconditioner;
    pytorch-optimizer's ``Kron``, a port of Evan Walters' kron_torch) on the
    hidden matrices, #36's aux AdamW on the rest.

    No Track 3 result uses plain Kron: the starting point the Track 3 README
    gives for kron_torch, ``lr=.0005, weight_decay=.625``, with kron_torch's
    other defaults as pytorch-optimizer ports them: momentum 0.9 (debiased),
    preconditioner lr 0.1, update probability 1 for 500 steps then decaying
    to 0.03, triangular factors up to 8192 (both sides of every Track 3
    matrix), the update's RMS clipped to 1.1, weight decay added before the
    learning rate (``p -= lr (u + wd p)``, the convention of the README's
    0.625). kron_torch's versions differ in details (250 or 500 flat steps)
    and the README does not say which it used. Baseline init, Track 3's
    schedule. N = 3400, that of the PSGD family's result #33
    (``psgd_kron_h``).
    """

    name = "psgd_kron"
    requirements = ["pip::pytorch-optimizer"]
    parameters = {
        "lr": [5e-4],
        "weight_decay": [0.625],
        "momentum": [0.9],
        "precond_update_prob": [None],  # None: the library's decaying schedule
        "precond_lr": [0.1],
        "max_size_triangular": [8192],
        "memory_save_mode": [None],
        **AUX_ADAMW_36,  # embedding, head, scalars: #36's aux AdamW
        "train_steps": [3400],
        "init": ["baseline"],
        **TRACK3_SCHEDULE,  # constant, linear to 0 over the last 70%
    }

    def build_optimizers(self, groups):
        kron = Kron(
            # Kron takes its preconditioner lr from the param group only
            role_groups(groups, hidden_matrices=dict(precondition_lr=self.precond_lr)),
            lr=self.lr,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            pre_conditioner_update_probability=self.precond_update_prob,
            max_size_triangular=self.max_size_triangular,
            memory_save_mode=self.memory_save_mode,
        )
        aux = solver_aux_adamw(self, groups)
        return [kron, aux]
