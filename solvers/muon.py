from benchmark_utils.optim.muon import BatchedMuon
from benchmark_utils.training.recipe import AUX_ADAMW_36, solver_aux_adamw
from benchmark_utils.training.trainer import TRACK3_SCHEDULE, TrainerSolver


class Solver(TrainerSolver):
    """Muon on the hidden matrices, AdamW on the embedding, head and scalars.

    Muon is ``torch.optim.Muon``'s update with same-shape matrices batched
    (benchmark_utils/optim/muon.py: torch's is a per-tensor Python loop, ~3,200
    kernel launches per step on Track 3; tests/test_muon_batched.py checks the
    two agree).

    Defaults: modded-nanogpt Track 3 result #36, the tuned baseline
    (``records/track_3_optimization/train_gpt_simple.py``; 3250 steps, mean
    3.2787 over n=10). Muon lr 0.025, weight decay 0.05, momentum 0.95 as an
    EMA with Nesterov, 12 Newton-Schulz iterations of the quintic with
    coefficients (2, -1.5, 0.5) in bf16 after Frobenius normalisation, update
    scaled by sqrt(max(1, rows/cols)) ("original"), decoupled decay with the
    unscaled lr. torch.optim.Muon with these arguments computes #36's update
    (checked in its source and by tests/test_presets.py): ``buf.lerp_(g,
    1 - mu)``, ``g.lerp(buf, mu)``, the same iteration and scaling,
    ``p *= 1 - lr wd``. Aux AdamW (fused on CUDA): embedding lr 0.7, head lr
    0.004, scalars (gains and biases) lr 0.015, betas (0.8, 0.95), eps 1e-10,
    weight decay 0.001 on all three. Baseline init; LR constant, then linear
    to 0 over the last 70% of the steps; no warmup, no clipping; N = 3250.

    Rounding-level differences from #36's own Muon: it normalises by
    ``norm + 1e-7`` where torch divides by ``max(norm, 1e-7)`` (equal unless
    the norm is ~1e-7), it forms ``b A + c A A`` with separate bf16 ops where
    torch uses one ``addmm``, and it multiplies the bf16 update by the shape
    factor where torch folds it into the step size (exact at full size: the
    factors are 1 and 2).
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
