import torch

from benchmark_utils.optim_groups import adamw_for_non_hidden
from benchmark_utils.trainer import TrainerSolver


class Solver(TrainerSolver):
    """Muon (torch.optim.Muon) on the hidden matrices, AdamW on the
    embedding, head and scalars.

    Defaults: modded-nanogpt Track 3 baseline (DESIGN.md section 4): Muon lr
    0.025, wd 0.05, momentum 0.95, Nesterov, 5 Newton-Schulz steps, "original"
    shape scaling sqrt(max(1, rows/cols)); Adam betas (0.8, 0.95), eps 1e-10,
    wd 0.001, scalars lr 0.015; LR constant then linear decay to 0 over the
    last 70% of the steps. The classic model ties embedding and head: the tied
    tensor gets one Adam group at the head's moderate LR (0.004), not the
    untied embedding's 0.7.
    """

    name = "muon"
    parameters = {
        "lr": [0.025],
        "weight_decay": [0.05],
        "momentum": [0.95],
        "nesterov": [True],
        "ns_steps": [5],
        "adjust_lr_fn": ["original"],  # or "match_rms_adamw"
        "embedding_lr": [0.004],  # the tied embedding/head tensor
        "head_lr": [0.004],  # used only by an untied head
        "scalar_lr": [0.015],
        "adam_betas": [(0.8, 0.95)],
        "adam_eps": [1e-10],
        "adam_weight_decay": [0.001],
        "schedule": ["wsd"],
        "decay_fraction": [0.7],
        "min_lr_ratio": [0.0],
        "warmup": [0],
        "grad_clip": [0.0],
    }

    def build_optimizers(self, groups):
        muon = torch.optim.Muon(
            groups.hidden_matrices,
            lr=self.lr,
            weight_decay=self.weight_decay,
            momentum=self.momentum,
            nesterov=self.nesterov,
            ns_steps=self.ns_steps,
            adjust_lr_fn=self.adjust_lr_fn,
        )
        adam = adamw_for_non_hidden(
            groups,
            embedding_lr=self.embedding_lr,
            head_lr=self.head_lr,
            scalar_lr=self.scalar_lr,
            betas=self.adam_betas,
            eps=self.adam_eps,
            weight_decay=self.adam_weight_decay,
            device=self.device,
        )
        return [muon, adam]
