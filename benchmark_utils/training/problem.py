"""What the objective fixes for every solver: the training problem. The
global batch is part of it: only the micro-batch (memory) may change."""

from dataclasses import dataclass

from ..settings import SettingsError, batch_problem


@dataclass(frozen=True)
class TrainingProblem:
    """What the objective fixes for every solver (``Objective.get_objective``)."""

    model_config: object
    init_seed: int
    train_files: tuple
    seq_len: int
    batch_tokens: int
    micro_batch_size: int
    max_steps: int  # the data budget: no run may train for more steps
    eval_every: int
    eval_every_final: int = 25
    train_steps: int = None  # N for every solver; None: each solver's own
    device: str = "auto"
    compile: object = True  # True: on CUDA; "always": on any device; False
    repeat_data: bool = False
    data_order: str = "track3"  # "track3", "contiguous" or "bos_aligned"
    bos_token: int = None  # the document separator, for bos_aligned
    stop_at_target: bool = False  # not Track 3 valid: a demo convenience
    tf32: bool = False  # a hardware option Track 3 does not use

    def grad_accum_steps(self, world_size=1):
        """Micro-batches per rank and step (None while the size is "auto")."""
        auto = self.micro_batch_size == "auto"
        problem, accum = batch_problem(
            self.seq_len,
            self.batch_tokens,
            1 if auto else self.micro_batch_size,
            world_size,
        )
        if problem:
            raise SettingsError(problem)
        return None if auto else accum

    def sequences_per_rank(self, world_size=1):
        self.grad_accum_steps(world_size)  # whole sequences on every rank
        return self.batch_tokens // (self.seq_len * world_size)

    def compiles_on(self, device):
        return self.compile == "always" or (
            bool(self.compile) and device.type == "cuda"
        )

    def n_steps_for(self, solver_name, solver_steps):
        """N: the objective's ``train_steps`` if set, else the solver's."""
        n_steps = self.train_steps or solver_steps
        if not n_steps:
            raise SettingsError(
                f"solver {solver_name!r} declares no train_steps and the "
                'objective sets none: add "train_steps": [N] to the '
                "solver's parameters (the step count its result claims), or "
                "set the objective's train_steps"
            )
        n_steps = int(n_steps)
        if not 1 <= n_steps <= self.max_steps:
            raise SettingsError(
                f"solver {solver_name!r} trains for train_steps={n_steps} but "
                f"the objective's data budget is max_steps={self.max_steps}: "
                "use 1 <= train_steps <= max_steps (raising max_steps "
                "downloads more shards)"
            )
        return n_steps
