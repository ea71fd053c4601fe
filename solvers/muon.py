from benchmark_utils.optim.muon import BatchedMuon
from benchmark_utils.training.recipe import AUX_ADAMW_36, solver_aux_adamw
from benchmark_utils.training.trainer import TRACK3_SCHEDULE, TrainerSolver


class Solver(TrainerSolver):
    """Muon on the hidden matrices, #36's aux AdamW on the rest.

    Muon is ``torch.optim.Muon``'s update with same-shape matrices batched
    (``benchmark_utils/optim/muon.py``, which lists the rounding-level
    differences from #36's own Muon; tests/test_muon_batched.py checks it
    against torch's).

    Defaults: modded-nanogpt Track 3 result #36, the tuned baseline
    (``records/track_3_optimization/train_gpt_simple.py``; 3250 steps, mean
    3.2787 over n=10): lr 0.025, weight decay 0.05 (decoupled, unscaled lr),
    momentum 0.95 as an EMA with Nesterov, 12 Newton-Schulz iterations of
    (2, -1.5, 0.5) in bf16, update scaled by sqrt(max(1, rows/cols))
    ("original"). Baseline init, Track 3's schedule; N = 3250.
    """

    name = "muon"
    parameters = {
        "lr": [0.025],
        "weight_decay": [0.05],
        "momentum": [0.95],
        "nesterov": [True],
        "ns_coefficients": [(2.0, -1.5, 0.5)],
        "ns_steps": [12],
        "adjust_lr_fn": ["original"],  # or "match_rms_adamw"
        **AUX_ADAMW_36,  # embedding, head, scalars: #36's aux AdamW
        "train_steps": [3250],
        "init": ["baseline"],
        **TRACK3_SCHEDULE,  # constant, linear to 0 over the last 70%
    }

    def build_optimizers(self, groups):
        muon = BatchedMuon(
            groups.hidden_matrices,
            lr=self.lr,
            weight_decay=self.weight_decay,
            momentum=self.momentum,
            nesterov=self.nesterov,
            ns_coefficients=tuple(self.ns_coefficients),
            ns_steps=self.ns_steps,
            adjust_lr_fn=self.adjust_lr_fn,
        )
        adam = solver_aux_adamw(self, groups)
        return [muon, adam]
