import importlib.util

from benchmark_utils.optim_groups import decay_groups
from benchmark_utils.shampoo import Shampoo
from benchmark_utils.trainer import GPT2_SCHEDULE, TrainerSolver


class Solver(TrainerSolver):
    """Shampoo with Adam grafting and blocked preconditioners.

    ``implementation="benchmark_utils"``: benchmark_utils/shampoo.py (no
    maintained PyPI implementation is correct, see there);
    ``"distributed_shampoo"``: Meta's DistributedShampoo, when installed.
    Defaults: the Track 3 DistributedShampoo entry (DESIGN.md section 4): lr
    0.0015, wd 0.2 (decoupled), betas (0.9, 0.95), precondition every 5
    steps, inverse root 1/4 for matrices (1/(2 order), override with
    ``inverse_exponent_override``), Adam grafting with eps 1e-10, max
    preconditioner dim 8192, epsilon 1e-12 (DistributedShampoo's default);
    the AdamW solver's warmup, cosine decay to 10% and clipping.
    """

    name = "shampoo"
    parameters = {
        "implementation": ["benchmark_utils"],  # or "distributed_shampoo"
        "lr": [1.5e-3],
        "betas": [(0.9, 0.95)],
        "epsilon": [1e-12],
        "weight_decay": [0.2],
        "precondition_frequency": [5],
        "max_preconditioner_dim": [8192],
        "inverse_exponent_override": [0.0],  # 0: 1/(2 order)
        "grafting_beta2": [0.95],
        "grafting_epsilon": [1e-10],
        **GPT2_SCHEDULE,
    }

    def skip(self, **objective_dict):
        if (
            self.implementation == "distributed_shampoo"
            and importlib.util.find_spec("distributed_shampoo") is None
        ):
            return True, (
                "distributed_shampoo is not installed: pip install "
                "git+https://github.com/facebookresearch/optimizers"
                " (Python >= 3.12)"
            )
        if self.implementation not in ("benchmark_utils", "distributed_shampoo"):
            return True, f"unknown implementation {self.implementation!r}"
        return False, None

    def build_optimizers(self, groups):
        options = dict(
            lr=self.lr,
            betas=self.betas,
            epsilon=self.epsilon,
            max_preconditioner_dim=self.max_preconditioner_dim,
            precondition_frequency=self.precondition_frequency,
        )
        params = decay_groups(groups, self.weight_decay)
        if self.implementation == "distributed_shampoo":
            return [_distributed_shampoo(params, self, options)]
        return [
            Shampoo(
                params,
                inverse_exponent_override=self.inverse_exponent_override,
                grafting_beta2=self.grafting_beta2,
                grafting_epsilon=self.grafting_epsilon,
                **options,
            )
        ]


def _distributed_shampoo(params, solver, options):
    """Meta's DistributedShampoo with the same hyperparameters (its API has
    changed across versions: the Adam grafting config was renamed)."""
    import distributed_shampoo as ds

    adam_config = getattr(ds, "AdamPreconditionerConfig", None) or ds.AdamGraftingConfig
    extra = {}
    if solver.inverse_exponent_override:
        e = solver.inverse_exponent_override
        extra["preconditioner_config"] = ds.RootInvShampooPreconditionerConfig(
            inverse_exponent_override={1: e, 2: e}
        )
    return ds.DistributedShampoo(
        params,
        grafting_config=adam_config(
            beta2=solver.grafting_beta2, epsilon=solver.grafting_epsilon
        ),
        use_bias_correction=True,
        **options,
        **extra,
    )
