from benchmark_utils.models.track3 import init_adamh
from benchmark_utils.optim.adamh import AdamH, warmup_then_linear
from benchmark_utils.training.recipe import AUX_ADAMW_2, solver_aux_adamw
from benchmark_utils.training.trainer import TRACK3_SCHEDULE, TrainerSolver


class Solver(TrainerSolver):
    """AdamH (Adam's direction, a step of lr times the matrix's norm, then
    back onto the sphere of that norm; ``benchmark_utils/optim/adamh.py``)
    on the hidden matrices, #2's aux AdamW on the rest.

    Defaults: modded-nanogpt Track 3 result #4 (``records/
    track_3_optimization/results/20260430_adamh/``, 5 logs of one script,
    mean 3.2741 at step 4875 = N, the schedule's length): lr 0.018, betas
    (0.9, 0.95), eps 1e-8, no weight decay; lr x step / 250 for 250 steps,
    then x (1 - step / N). The aux AdamW: constant, then linear to 0 over the
    last 40%. Init: PyTorch's default with every ``proj`` zeroed, then the
    bound of attn.proj, mlp.proj and mlp.fc times 1.25, 3 and 1.5 (stds
    0.026, 0.031, 0.031 at full size; ``models.track3.init_adamh``).
    """

    name = "adamh"
    parameters = {
        "lr": [0.018],
        "betas": [(0.9, 0.95)],
        "eps": [1e-8],
        "hidden_warmup": [250],  # steps
        "attn_proj_gain": [1.25],  # times PyTorch's default init bound
        "mlp_proj_gain": [3.0],
        "mlp_fc_gain": [1.5],
        **AUX_ADAMW_2,  # embedding, head, scalars: #2's aux AdamW
        "train_steps": [4875],
        "init": ["torch_default"],
        **dict(TRACK3_SCHEDULE, decay_fraction=[0.4]),  # the aux AdamW's
    }

    def init_model(self, model):
        gains = {
            "attn.proj": self.attn_proj_gain,
            "mlp.proj": self.mlp_proj_gain,
            "mlp.fc": self.mlp_fc_gain,
        }
        init_adamh(model, gains)

    def build_optimizers(self, groups):
        adamh = AdamH(
            groups.hidden_matrices, lr=self.lr, betas=self.betas, eps=self.eps
        )
        adamh.lr_multiplier = warmup_then_linear(self.hidden_warmup)
        return [adamh, solver_aux_adamw(self, groups)]
