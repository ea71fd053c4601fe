"""The CPU-testable parts of the GPU path (issue "GPU-ready"): the
micro-batch probe runs what the run executes and knows every out-of-memory
form, evaluation never recompiles a static-shape model, DDP's bucket size."""

import pytest
import torch

from benchmark_utils import distributed
from benchmark_utils.models import make_config
from benchmark_utils.training import probe
from benchmark_utils.training.evaluation import validation_loss

GIB = 2**30


class SimulatedGPU:
    """An 80 GB device on which a training step of ``n`` sequences needs
    ``n x per_sequence`` bytes: ~1.48 GiB per 1,024-token sequence eager (four
    fp32 copies of the 50,304-wide logits kept for backward), about half that
    compiled (the logits are fused). What torch raises when it does not fit:
    ``torch.OutOfMemoryError``, or cuBLAS's plain RuntimeError."""

    def __init__(self, monkeypatch, error=torch.OutOfMemoryError):
        self.tried = []
        sizes = {"eager": 1.48 * GIB, "compiled": 0.74 * GIB}
        from benchmark_utils.models import track3

        original = track3.Track3GPT.forward

        def forward(model, idx, *args, **kwargs):
            mode = "compiled" if getattr(model, "_compiled", False) else "eager"
            self.tried.append((mode, idx.shape[0]))
            if idx.shape[0] * sizes[mode] > 80e9:
                raise error("CUDA out of memory" if error is torch.OutOfMemoryError
                            else "CUDA error: CUBLAS_STATUS_ALLOC_FAILED")  # fmt: skip
            return original(model, idx, *args, **kwargs)

        def fake_compile(model, **kwargs):  # marks the model, records the call
            assert kwargs.get("dynamic") is False  # as the Track 3 script
            model._compiled = True
            return model

        monkeypatch.setattr(track3.Track3GPT, "forward", forward)
        monkeypatch.setattr(probe.torch, "compile", fake_compile)


class TinySolver:
    name = "probe-test"
    device = torch.device("cpu")

    def build_optimizers(self, groups):
        roles = ("hidden_matrices", "embedding", "head", "scalars")
        params = [p for role in roles for p in getattr(groups, role)]
        return [torch.optim.SGD(params, lr=0.0)]


def one_gpu_share_of_the_8_gpu_batch(make_problem):
    # Track 3: 512 sequences per step; one GPU of 8 holds 64 of them. Here the
    # model is tiny (the simulated memory decides) and one rank holds all 512.
    return make_problem(batch_tokens=512 * 32, micro_batch_size="auto")


@pytest.mark.parametrize("error", [torch.OutOfMemoryError, RuntimeError])
def test_probe_runs_the_compiled_step_from_64_sequences(
    make_problem, monkeypatch, error
):
    gpu = SimulatedGPU(monkeypatch, error)
    problem = one_gpu_share_of_the_8_gpu_batch(make_problem)
    solver = TinySolver()
    # Compiled (what the run executes): 64 fits, and 64 is tried first.
    assert probe.largest_micro_batch(solver, problem, distributed.SINGLE, True) == 64
    assert gpu.tried[0] == ("compiled", 64)
    # Eager, the old probe's model: 64 x 1.48 GiB > 80 GB, so 32.
    gpu.tried.clear()
    assert probe.largest_micro_batch(solver, problem, distributed.SINGLE, False) == 32
    assert [n for _, n in gpu.tried] == [64, 32]  # never 512, 256, 128


def test_a_runtime_error_that_is_not_memory_is_raised(make_problem, monkeypatch):
    from benchmark_utils.models import track3

    def forward(*args, **kwargs):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(track3.Track3GPT, "forward", forward)
    problem = one_gpu_share_of_the_8_gpu_batch(make_problem)
    with pytest.raises(RuntimeError, match="illegal memory access"):
        probe.largest_micro_batch(TinySolver(), problem, distributed.SINGLE, False)


def test_candidate_sizes_start_at_track3s_micro_batch():
    assert probe.candidate_sizes(512) == [64, 32, 16, 8, 4, 2, 1]
    assert probe.candidate_sizes(48) == [16, 8, 4, 2, 1]  # powers of 2 dividing 48
    assert probe.candidate_sizes(3) == [1]


def test_a_short_last_evaluation_batch_runs_the_eager_model():
    """10,240 windows over 3 ranks do not split evenly: the last batch of a
    rank is shorter. A compiled static-shape model would recompile for it;
    the eager module (torch.compile's ``_orig_mod``) runs it instead, and the
    loss is the same."""
    torch.manual_seed(0)
    config = make_config("track3-tiny", 64, 16)
    from benchmark_utils.models import build_model

    eager = build_model(config, seed=0)
    shapes = []

    class Compiled(torch.nn.Module):  # stands for torch.compile's wrapper
        def __init__(self, module):
            super().__init__()
            self._orig_mod = module

        def forward(self, x, y):
            shapes.append(x.shape[0])
            return self._orig_mod(x, y)

    tokens = torch.randint(0, 64, (10 * 16 + 1,))
    wrapped = Compiled(eager)
    loss = validation_loss(wrapped, tokens, 16, 4, torch.device("cpu"))
    assert shapes == [4, 4]  # the third batch (2 windows) ran eagerly
    assert loss == pytest.approx(
        validation_loss(eager, tokens, 16, 4, torch.device("cpu"))
    )


def test_ddp_buckets_are_chosen_deliberately():
    assert distributed.BUCKET_CAP_MB == 128
    import inspect

    assert "bucket_cap_mb=BUCKET_CAP_MB" in inspect.getsource(distributed.wrap_model)


def test_collective_timeout_covers_a_cold_compile():
    """8 ranks compiling on a cold cache can take minutes before their first
    collective: the default timeout leaves room, and the README says so."""
    from pathlib import Path

    assert distributed.DEFAULT_TIMEOUT_S >= 1800
    readme = (Path(__file__).resolve().parents[1] / "README.rst").read_text()
    assert "default 1800 s" in readme
