from benchmark_utils.models.track3 import init_soap_h
from benchmark_utils.optim.soap_h import SOAPH, power_decay
from benchmark_utils.training.recipe import AUX_ADAMW_2, solver_aux_adamw
from benchmark_utils.training.trainer import TRACK3_SCHEDULE, TrainerSolver


class Solver(TrainerSolver):
    """SOAP-H (SOAP without bias correction, eigenbasis refreshed every step,
    step on the hyperball; ``benchmark_utils/optim/soap_h.py``) on the
    hidden matrices, #2's aux AdamW on the rest.

    Defaults: modded-nanogpt Track 3 result #27 (``records/
    track_3_optimization/results/20260518_soaph/SOAPH_run1.txt``, six runs,
    mean 3.2782 at step 3125): lr 0.018, beta1 0.95, beta2 = Shampoo's beta
    0.9, eps 1e-8, precondition frequency 1, no weight decay. Two
    schedules, no warmup, no clipping: SOAP-H's lr times (1 - step /
    3200)^1.25 (3200 = 1.024 N: not 0 at N), the aux AdamW's constant then
    linear to 0 over the last 40%. Init: #27's scaled PyTorch default
    (``models.track3.init_soap_h``). N = 3125, the runs' schedule length
    and the step they claim.
    """

    name = "soap_h"
    parameters = {
        "lr": [0.018],
        "betas": [(0.95, 0.9)],  # momentum, second moment and Shampoo's beta
        "eps": [1e-8],
        "precondition_frequency": [1],
        "lr_steps_ratio": [3200 / 3125],  # SOAP-H's horizon, in units of N
        "lr_power": [1.25],
        **AUX_ADAMW_2,  # embedding, head, scalars: #2's aux AdamW
        "train_steps": [3125],
        "init": ["torch_default"],  # then init_model
        **TRACK3_SCHEDULE,  # the aux AdamW's schedule: constant, then
        "decay_fraction": [0.4],  # linear to 0 over the last 40%
    }

    def init_model(self, model):
        init_soap_h(model)

    def build_optimizers(self, groups):
        soap = SOAPH(
            groups.hidden_matrices,
            lr=self.lr,
            momentum=self.betas[0],
            ema_beta=self.betas[1],
            eps=self.eps,
            precondition_frequency=self.precondition_frequency,
        )
        soap.lr_multiplier = power_decay(self.lr_steps_ratio, self.lr_power)
        return [soap, solver_aux_adamw(self, groups)]
