"""Test-only entry point: the launcher (``benchmark_utils.launch``) with two
test instruments added to the trainer by monkeypatching, so that no test hook
lives in the training step.

    python tests/dist_harness.py -- benchopt run ...        (one process)
    torchrun ... tests/dist_harness.py -- benchopt run ...  (several ranks)

Environment (read here, in test code only):

- ``DIST_TEST_DUMP=FOLDER``: at the end of each run every rank saves its
  weights and the gradients its optimizers saw last to
  ``FOLDER/<solver>_rank<r>.pt``;
- ``DIST_TEST_FAULT=RANK:STEP[:hang]``: that rank raises (or hangs) before
  that training step.
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmark_utils import launch  # noqa: E402
from benchmark_utils.training.trainer import TrainerSolver  # noqa: E402


def instrument(dump=None, fault=None):
    start_run, train_step, run = (
        TrainerSolver._start_run,
        TrainerSolver._train_step,
        TrainerSolver.run,
    )

    def _start_run(self):
        start_run(self)

        def capture():
            self._last_grads = {
                n: p.grad.detach().float().cpu()
                for n, p in self.model.named_parameters()
                if p.grad is not None
            }

        self._optimizer_steps = [capture, *self._optimizer_steps]

    def _train_step(self):
        if fault:
            rank, step, *how = fault.split(":")
            if self.dist.rank == int(rank) and self.step == int(step):
                if how == ["hang"]:
                    time.sleep(3600)
                raise RuntimeError(f"injected fault on rank {rank} at step {step}")
        train_step(self)

    def _run(self, callback):
        run(self, callback)
        if dump:
            state = dict(
                params={
                    n: p.detach().float().cpu()
                    for n, p in self.model.named_parameters()
                },
                grads=getattr(self, "_last_grads", None),
                step=self.step,
            )
            torch.save(state, Path(dump) / f"{self.name}_rank{self.dist.rank}.pt")

    TrainerSolver._start_run = _start_run
    TrainerSolver._train_step = _train_step
    TrainerSolver.run = _run


if __name__ == "__main__":
    instrument(os.environ.get("DIST_TEST_DUMP"), os.environ.get("DIST_TEST_FAULT"))
    sys.exit(launch.main())
