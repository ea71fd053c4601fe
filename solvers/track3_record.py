from benchmark_utils.models.track3 import init_record_46
from benchmark_utils.optim.soap_muon import DECAY_STARTS, RECORD_N, record_46
from benchmark_utils.training.trainer import TrainerSolver


class Solver(TrainerSolver):
    """Track 3 record #46 (2690 steps, mean 3.2783, n=8; 2026/06/19): the
    SOAP-Muon stack with Tail-EMA readout, RowFloor and cautious weight decay.
    Source: modded-nanogpt ``records/track_3_optimization/results/
    20260619_cwd_rowfloor_tailema/`` (README; ``A40_seed0_*.txt`` embeds the
    script). The stack and its fixed settings: ``record_46`` in
    ``benchmark_utils/optim/soap_muon.py``; the optimizers are described
    there and in ``wrappers.py``.

    The stack owns the schedule (PowerCool to step 2900; the trainer's is
    constant): the published power_c put the decay starts at steps 513.6
    (SoapMuon) and 1487 (the rest), as the Track 3 README says. The Tail-EMA
    readout is evaluated through the evaluation hooks. Step landmarks (and
    tau) scale with N / 2690; N = 2690. Init: PyTorch's default with
    ``proj`` zeroed, then the entry's depth-scaled mlp.fc and antithetic
    +-1 gains (``init_record_46`` in ``benchmark_utils/models/track3.py``).
    """

    name = "track3_record"
    parameters = {
        "lr": [0.0375],  # SoapMuon
        "embedding_lr": [0.3],
        "head_lr": [1 / 320],
        "scalar_lr": [0.01],
        "vector_beta2": [(0.99, 0.9965, 0.997)],  # gains, attn.proj bias, others
        "target_uw": [0.3825],
        "cwd": [0.025],
        "decay_starts": [DECAY_STARTS],  # hidden, embedding, head, scalars
        "tail_ema": [(150.0, 2400, 2900, 0.6)],  # tau, start, end, blend
        "train_steps": [RECORD_N],
        "init": ["torch_default"],  # then init_model: the entry's own
        "schedule": ["constant"],
        "warmup": [0],
    }

    def init_model(self, model):
        init_record_46(model)

    def build_optimizers(self, groups):
        model = getattr(self, "model", None)  # names give the per-tensor roles
        names = {} if model is None else {id(p): n for n, p in model.named_parameters()}
        stack = record_46(
            groups,
            names,
            self.n_steps,
            lr=self.lr,
            embedding_lr=self.embedding_lr,
            head_lr=self.head_lr,
            scalar_lr=self.scalar_lr,
            vector_beta2=self.vector_beta2,
            target_uw=self.target_uw,
            cwd=self.cwd,
            decay_starts=self.decay_starts,
            tail_ema=self.tail_ema,
        )
        return [stack]

    def before_evaluation(self):
        self.optimizers[0].begin_evaluation()  # Tail-EMA blend, no look-ahead

    def after_evaluation(self):
        self.optimizers[0].end_evaluation()
