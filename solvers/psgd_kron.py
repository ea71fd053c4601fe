from pytorch_optimizer import Kron

from benchmark_utils.optim_groups import decay_groups
from benchmark_utils.trainer import GPT2_SCHEDULE, TrainerSolver


class Solver(TrainerSolver):
    """PSGD-Kron (Li 2015/2018; Kronecker-factored whitening preconditioner),
    pytorch-optimizer's ``Kron`` (a port of Evan Walters' kron_torch).

    Defaults: lr 5e-4 (DESIGN.md section 4), momentum 0.9, preconditioner
    LR 0.1, update probability 1 for 500 steps then decaying to 0.03
    (library schedule, ``precond_update_prob=None``), triangular factors up to
    8192 (larger dims, e.g. the vocabulary, are diagonal); weight decay 0.1
    and the warmup / cosine / clipping recipe of the AdamW solver.
    """

    name = "psgd_kron"
    requirements = ["pip::pytorch-optimizer"]
    parameters = {
        "lr": [5e-4],
        "momentum": [0.9],
        "weight_decay": [0.1],
        "precond_update_prob": [None],  # None: the library's decaying schedule
        "precond_lr": [0.1],
        "max_size_triangular": [8192],
        "memory_save_mode": [None],
        **GPT2_SCHEDULE,
    }

    def build_optimizers(self, groups):
        return [
            Kron(
                decay_groups(
                    groups, self.weight_decay, precondition_lr=self.precond_lr
                ),
                lr=self.lr,
                momentum=self.momentum,
                pre_conditioner_update_probability=self.precond_update_prob,
                max_size_triangular=self.max_size_triangular,
                memory_save_mode=self.memory_save_mode,
            )
        ]
