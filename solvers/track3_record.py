from benchmark_utils.optim.soap_muon import RECORD_N, decay_start, record_46
from benchmark_utils.training.trainer import TrainerSolver


class Solver(TrainerSolver):
    """Track 3 record #46 (2690 steps, mean 3.2783, n=8; 2026/06/19): the
    SOAP-Muon stack with Tail-EMA readout, RowFloor and cautious weight decay.
    Source: modded-nanogpt ``records/track_3_optimization/results/
    20260619_cwd_rowfloor_tailema/`` (README; ``A40_seed0_*.txt`` embeds the
    script). Optimizers in ``benchmark_utils/optim/`` (descriptions there).

    Hidden matrices: SoapMuon lr 0.0375, momentum 0.85 -> 0.95 over 300 steps
    (back to 0.85 over 2700-2900), SOAP beta2 0.9 refreshed every step,
    attn.proj trust gate (floor 0.45 / cap 0.85 to step 1375, floor faded to
    0 by 1625), radial brake 0.5, RowFloor 0.3825, CWD 0.025. Embedding and
    head: AdamW lr 0.3 / 1/320, betas (0.8, 0.99), eps 1e-10, no decay.
    Vectors: Adam without bias correction, lr 0.01, beta1 0.8, beta2 0.99
    (gains), 0.9965 (attn.proj bias), 0.997 (other biases). PowerCool power
    1.2 to step 2900, each role's published ``power_c``. EMA-Nesterov 0.3 x
    lr ratio, EMA 0.99, steps 300-1950. Tail-EMA tau 150 over steps
    2400-2900, all but the embedding, evaluated as 0.4 w + 0.6 EMA (through
    the evaluation hooks). The trainer's schedule is constant (the stack owns
    it); the published power_c put the decay starts at steps 513.6 (Muon)
    and 1487 (the rest), as the Track 3 README says. Step landmarks (and
    tau) scale with N / 2690; N = 2690.
    Not reproduced: the entry's init (depth-scaled mlp.fc, Rademacher gain
    init; baseline init here) and its bf16 embedding.
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
        "decay_starts": [  # hidden, embedding, head, scalars (published power_c)
            (
                decay_start(0.0375, 3.3169534699576625e-06),
                decay_start(0.3, 4.976805410800738e-05),
                decay_start(1 / 320, 5.184172302917436e-07),
                decay_start(0.01, 1.6589351369335795e-06),
            )
        ],
        "tail_ema": [(150.0, 2400, 2900, 0.6)],  # tau, start, end, blend
        "train_steps": [RECORD_N],
        "init": ["baseline"],
        "schedule": ["constant"],
        "warmup": [0],
    }

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
