"""GPU self-check: does the CUDA path work, and how fast is it against a bare
Track 3 training loop? One GPU, under 8 minutes including compilation.

    bash benchmarks/gpu_check.sh              # on a machine with a GPU
    bash benchmarks/gpu_check.sh --cpu-tiny   # tiny model on CPU (what CI runs)

Six parts, each in its own process under its own time limit (a part that
fails or runs out of time is reported with the reason, and the next one
runs; a CUDA error cannot poison the later parts):

1. versions: Python, torch, CUDA, cuDNN, NCCL, Triton, the device.
2. project (muon, then adamw): the benchmark's own trainer and solver on the
   full Track 3 model at its real shapes (524,288 tokens a step, micro-batch
   64, sequence 1,024, bf16, compiled) on a generated shard: set-up time
   (model, optimizers, the warm-up that compiles), ms/step, tokens/s, MFU,
   peak memory, and a synchronised breakdown of a step: data, forward +
   backward, optimizer, communication (a standalone all-reduce; 0 on one
   GPU). The machinery is benchmarks/train_throughput.py's ``measure``.
3. bare: a training loop written here from the Track 3 script's description
   (``records/track_3_optimization/train_gpt_simple.py`` in
   KellerJordan/modded-nanogpt): the same model in bf16, ``torch.compile(
   dynamic=False)``, ``torch.optim.Muon`` with coefficients (2, -1.5, 0.5)
   and 12 steps on the hidden matrices, fused AdamW on the rest, the tokens
   already on the GPU; timed the same way. The summary gives project / bare
   (above 1: the project's loop costs that much more per step).
4. smoke: the step-0 loss is ln(padded vocabulary) per token (the Track 3
   head starts at zero: uniform logits; ln 50,304 = 10.826) and the loss
   falls over 20 steps of the Muon solver on one repeated batch.
5. auto: the micro-batch ``micro_batch_size="auto"`` picks (the trainer's
   probe) for one GPU's share of the 8-GPU batch (64 sequences).
6. validation: one validation pass as the objective makes it (10,485,760
   tokens, batches of the micro-batch size, compiled, ``validation_loss``):
   compile time, pass time, tokens/s, and the loss (ln 50,304 again: the
   model is untrained).

``--cpu-tiny`` runs the same parts on a 2-layer, 64-wide model with a
256-token vocabulary and short sequences, uncompiled (tests/test_compile.py
covers the compiled CPU path), in seconds; tests/test_gpu_check.py runs it.
``--json PATH`` writes every figure.
"""

import argparse
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (ROOT, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

TOTAL_LIMIT_S = 480  # the whole check, compilation included
# Part -> its time limit in seconds on a GPU (each also stops at the total).
LIMITS = {
    "versions": 20,
    "project_muon": 130,  # a cold compile of the training and eval graphs
    "project_adamw": 70,  # inductor's cache now holds the model's graphs
    "bare": 90,
    "smoke": 40,  # uncompiled
    "auto": 80,  # the probe, then a compile if it picks another size
    "validation": 50,
}
PARTS = list(LIMITS)
RESULT = "RESULT "


@dataclass
class Sizes:
    model: str
    vocab: int
    seq_len: int
    batch_tokens: int
    micro_batch: int
    steps: int  # timed steps (and as many instrumented ones)
    warmup_steps: int  # after the trainer's own warm-up
    compile: bool
    device: str
    val_tokens: int
    smoke_sequences: int
    smoke_steps: int
    ranks_of_batch: int = 8  # part 5: one GPU's share of an 8-GPU batch

    @property
    def dtype(self):
        return "bfloat16" if self.device == "cuda" else "float32"


FULL = Sizes(
    model="track3",
    vocab=50257,
    seq_len=1024,
    batch_tokens=524_288,
    micro_batch=64,
    steps=5,
    warmup_steps=2,
    compile=True,
    device="cuda",
    val_tokens=10_485_760,
    smoke_sequences=16,
    smoke_steps=20,
)
TINY = Sizes(
    model="track3-tiny",
    vocab=256,
    seq_len=64,
    batch_tokens=2048,
    micro_batch=8,
    steps=2,
    warmup_steps=1,
    compile=False,
    device="cpu",
    val_tokens=4096,
    smoke_sequences=8,
    smoke_steps=20,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-tiny", action="store_true", help="tiny model, CPU")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=PARTS)
    parser.add_argument("--total-limit", type=float, default=TOTAL_LIMIT_S)
    parser.add_argument("--json", default=None, help="write every figure here")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the parts in this process, without time limits (faster "
        "start; a crash or a CUDA error then ends the check)",
    )
    parser.add_argument(
        "--scale-limits",
        type=float,
        default=1.0,
        help="multiply every part's time limit (a slow compiler, a cold cache)",
    )
    parser.add_argument("--part", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--data", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# -- helpers (run inside a part's process) ------------------------------------


def _device(sizes):
    import torch

    from benchmark_utils.training.runtime import resolve_device

    if sizes.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "torch sees no GPU (torch.cuda.is_available() is False): run on a "
            "machine with a GPU and a CUDA build of torch, or pass --cpu-tiny"
        )
    return resolve_device(sizes.device)


def _config(sizes):
    from benchmark_utils.models import make_config

    return make_config(sizes.model, sizes.vocab, sizes.seq_len, sizes.dtype)


def _sync(device):
    from benchmark_utils.training.runtime import synchronize

    synchronize(device)


def _reset_peak(device):
    import torch

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _problem(sizes, shard, **overrides):
    from benchmark_utils.training.problem import TrainingProblem

    steps = 2 * sizes.steps + sizes.warmup_steps + 3
    settings = dict(
        model_config=_config(sizes),
        init_seed=0,
        train_files=(str(shard),),
        seq_len=sizes.seq_len,
        batch_tokens=sizes.batch_tokens,
        micro_batch_size=sizes.micro_batch,
        max_steps=steps,
        train_steps=steps,
        eval_every=steps,
        device=sizes.device,
        compile=sizes.compile,
    )
    settings.update(overrides)
    return TrainingProblem(**settings)


def _solver(name):
    from benchmark_tools.components import make_solver

    return make_solver(name)


# -- the parts ----------------------------------------------------------------


def part_versions(sizes, shard):
    import torch

    out = dict(
        python=platform.python_version(),
        torch=torch.__version__,
        cuda_build=torch.version.cuda,
        cuda_available=torch.cuda.is_available(),
        cpu_threads=torch.get_num_threads(),
        c_compiler=shutil.which("gcc") or shutil.which("cc"),
    )
    try:
        import triton

        out["triton"] = triton.__version__
    except ImportError:
        out["triton"] = None
    if torch.cuda.is_available():
        index = torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        out.update(
            device=props.name,
            capability=".".join(map(str, torch.cuda.get_device_capability(index))),
            memory_gib=props.total_memory / 2**30,
            gpus=torch.cuda.device_count(),
            cudnn=torch.backends.cudnn.version(),
        )
        try:
            out["nccl"] = ".".join(map(str, torch.cuda.nccl.version()))
        except Exception as error:  # a build without NCCL
            out["nccl"] = f"unavailable ({error})"
    else:
        out["device"] = f"cpu ({platform.processor() or platform.machine()})"
    if sizes.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"no GPU visible ({json.dumps(out)}): the GPU parts will fail; "
            "check the driver (nvidia-smi) and that torch is a CUDA build"
        )
    from benchmark_utils.training.metrics import peak_tflops

    out["peak_tflops"] = peak_tflops(torch.device(sizes.device))
    return out


def _project(sizes, shard, name):
    from train_throughput import measure

    _device(sizes)
    solver = _solver(name)
    start = time.perf_counter()
    solver.set_objective(_problem(sizes, shard))  # compiled: warm-up compiles
    setup_s = time.perf_counter() - start
    row = measure(solver, sizes.steps, sizes.warmup_steps)
    return dict(solver=name, setup_s=setup_s, compiled=solver.compiled, **row)


def part_project_muon(sizes, shard):
    return _project(sizes, shard, "muon")


def part_project_adamw(sizes, shard):
    return _project(sizes, shard, "adamw")


def part_bare(sizes, shard):
    """The bare loop: Track 3's script reduced to its training step."""
    import torch

    from benchmark_utils.data.shards import read_tokens
    from benchmark_utils.models import build_model
    from benchmark_utils.training.metrics import (
        flops_per_token,
        peak_memory_gib,
        peak_tflops,
    )

    device = _device(sizes)
    config = _config(sizes)
    model = build_model(config, 0).to(device)
    groups = model.parameter_groups()
    muon = torch.optim.Muon(
        groups.hidden_matrices,
        lr=0.025,
        weight_decay=0.05,
        momentum=0.95,
        nesterov=True,
        ns_coefficients=(2.0, -1.5, 0.5),
        ns_steps=12,
        adjust_lr_fn="original",
    )
    aux = [
        dict(params=ps, lr=lr)
        for ps, lr in (
            (groups.embedding, 0.7),
            (groups.head, 0.004),
            (groups.scalars, 0.015),
        )
        if ps
    ]
    adam = torch.optim.AdamW(
        aux,
        betas=(0.8, 0.95),
        eps=1e-10,
        weight_decay=0.001,
        fused=device.type == "cuda",
    )
    train = torch.compile(model, dynamic=False) if sizes.compile else model
    micro_tokens = sizes.micro_batch * sizes.seq_len
    accum = sizes.batch_tokens // micro_tokens
    n_steps = 2 * sizes.steps + sizes.warmup_steps + 2
    tokens = torch.from_numpy(read_tokens(shard, 0, n_steps * sizes.batch_tokens + 1))
    tokens = tokens.to(device)
    scale = config.grad_scale(sizes.batch_tokens)
    position = [0]

    def batch():
        start = position[0] * micro_tokens
        position[0] += 1
        chunk = tokens[start : start + micro_tokens + 1]
        shape = (sizes.micro_batch, sizes.seq_len)
        return chunk[:-1].view(shape), chunk[1:].view(shape)

    def step(phases=None):
        def timed(key, fn):
            if phases is None:
                return fn()
            _sync(device)
            start = time.perf_counter()
            out = fn()
            _sync(device)
            phases[key] += time.perf_counter() - start
            return out

        for _ in range(accum):
            x, y = timed("data", batch)
            timed("fwd_bwd", lambda x=x, y=y: (train(x, y) * scale).backward())

        def optimizer_step():
            muon.step()
            adam.step()

        timed("optim", optimizer_step)
        model.zero_grad(set_to_none=True)

    _sync(device)
    start = time.perf_counter()
    for _ in range(2):  # Track 3's script compiles in its first steps too
        step()
    _sync(device)
    first_two_s = time.perf_counter() - start
    for _ in range(sizes.warmup_steps):
        step()
    _sync(device)
    _reset_peak(device)
    start = time.perf_counter()
    for _ in range(sizes.steps):
        step()
    _sync(device)
    step_s = (time.perf_counter() - start) / sizes.steps
    phases = dict(data=0.0, fwd_bwd=0.0, optim=0.0)
    for _ in range(sizes.steps):
        step(phases)
    flops = flops_per_token(model, config, sizes.seq_len) * sizes.batch_tokens / step_s
    return dict(
        compile_s=first_two_s - 2 * step_s if sizes.compile else math.nan,
        micro_batch=sizes.micro_batch,
        ms_step=1000 * step_s,
        tokens_s=sizes.batch_tokens / step_s,
        mfu=flops / (peak_tflops(device) * 1e12),
        **{k: 1000 * v / sizes.steps for k, v in phases.items()},
        reduce=0.0,
        mem_gib=peak_memory_gib(device),
        device=str(device),
    )


def part_smoke(sizes, shard):
    """Step-0 loss and 20 steps of the Muon solver on one repeated batch
    (uncompiled: this checks the numbers, not the speed)."""
    import torch

    from benchmark_utils.data.shards import read_tokens

    _device(sizes)
    batch_tokens = sizes.smoke_sequences * sizes.seq_len
    solver = _solver("muon")
    solver.set_objective(
        _problem(
            sizes,
            shard,
            batch_tokens=batch_tokens,
            micro_batch_size=sizes.smoke_sequences,
            compile=False,
        )
    )
    device, model = solver.device, solver.model
    chunk = torch.from_numpy(read_tokens(shard, 0, batch_tokens + 1)).to(device)
    shape = (sizes.smoke_sequences, sizes.seq_len)
    x, y = chunk[:-1].view(shape), chunk[1:].view(shape)
    expected = math.log(model.config.padded_vocab_size)
    losses = []
    for _ in range(sizes.smoke_steps + 1):
        loss = model(x, y)
        losses.append(loss.item() / y.numel())
        if len(losses) > sizes.smoke_steps:
            break
        (loss * solver.grad_scale).backward()
        for optimizer_step in solver._optimizer_steps:
            optimizer_step()
        model.zero_grad(set_to_none=True)
    out = dict(
        loss_step0=losses[0],
        expected_step0=expected,
        losses=losses,
        loss_last=losses[-1],
    )
    # bf16 activations, fp32 logits: the uniform start is exact to ~1e-3.
    if abs(losses[0] - expected) > 1e-2:
        raise AssertionError(
            f"step-0 loss {losses[0]:.4f} per token, expected ln(V) = "
            f"{expected:.4f}: the model does not start from uniform logits "
            f"({json.dumps(out)})"
        )
    if not all(map(math.isfinite, losses)) or losses[-1] > losses[0] - 0.5:
        raise AssertionError(
            f"the loss does not fall on a repeated batch: {losses[0]:.3f} -> "
            f"{losses[-1]:.3f} after {sizes.smoke_steps} steps ({json.dumps(out)})"
        )
    return out


def part_auto(sizes, shard):
    """What ``micro_batch_size="auto"`` picks for one GPU's share of the
    8-GPU global batch (the trainer's probe, then its warm-up)."""
    _device(sizes)
    share = sizes.batch_tokens // sizes.ranks_of_batch
    solver = _solver("muon")
    start = time.perf_counter()
    solver.set_objective(
        _problem(sizes, shard, batch_tokens=share, micro_batch_size="auto")
    )
    return dict(
        sequences_per_gpu=share // sizes.seq_len,
        chosen=solver.problem.micro_batch_size,
        grad_accum=solver.grad_accum,
        track3_micro_batch=64,
        setup_s=time.perf_counter() - start,
        compiled=solver.compiled,
    )


def part_validation(sizes, shard):
    """One validation pass the objective's way: ``validation_loss`` over
    ``val_tokens`` tokens on the device, batches of the micro-batch size,
    through the compiled model (compiled as the trainer does)."""
    import torch

    from benchmark_utils.data.shards import read_tokens
    from benchmark_utils.models import build_model
    from benchmark_utils.training.evaluation import validation_loss

    device = _device(sizes)
    model = build_model(_config(sizes), 0).to(device)
    evaluated = torch.compile(model, dynamic=False) if sizes.compile else model
    val = torch.from_numpy(read_tokens(shard, 0, sizes.val_tokens + 1)).to(device)
    batch = sizes.micro_batch
    start = time.perf_counter()
    x = val[: batch * sizes.seq_len].view(batch, sizes.seq_len)
    evaluated.eval()
    with torch.no_grad():
        evaluated(x, x)  # the warm-up call the trainer makes (compiles)
    _sync(device)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    loss = validation_loss(evaluated, val, sizes.seq_len, batch, device)
    _sync(device)
    pass_s = time.perf_counter() - start
    return dict(
        compile_s=compile_s if sizes.compile else math.nan,
        pass_s=pass_s,
        tokens=sizes.val_tokens,
        tokens_s=sizes.val_tokens / pass_s,
        val_loss=loss,
        expected=math.log(model.config.padded_vocab_size),
    )


# -- the driver ---------------------------------------------------------------


def run_part(name, sizes, shard):
    """In the part's own process: run it, print its figures as JSON."""
    import torch

    torch.manual_seed(0)
    if sizes.device == "cpu":
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or 1))
    figures = globals()[f"part_{name}"](sizes, shard)
    print(RESULT + json.dumps(figures, default=str), flush=True)


def write_data(folder, sizes):
    """One shard of uniform random tokens: enough for every part."""
    import numpy as np

    from benchmark_utils.data.shards import write_shard

    steps = 2 * sizes.steps + sizes.warmup_steps + 4
    n_tokens = max(steps * sizes.batch_tokens, sizes.val_tokens) + 1
    tokens = np.random.default_rng(0).integers(0, sizes.vocab, n_tokens)
    return write_shard(Path(folder) / "random_train_000001.bin", tokens)


def spawn(name, args, shard, limit):
    """Run part ``name`` in a new process group; kill it at ``limit`` s."""
    cmd = [sys.executable, __file__, "--part", name, "--data", str(shard)]
    if args.cpu_tiny:
        cmd.append("--cpu-tiny")
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its compile workers die with it
    )
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        # What the trainer already said is worth keeping (the probe's pick).
        said = [line for line in err.splitlines() if "micro_batch_size=" in line]
        return dict(
            status="timeout",
            seconds=time.perf_counter() - start,
            reason=f"no result within its limit of {limit:.0f} s; "
            + "".join(f"{line.strip()}; " for line in said)
            + f"last output: {_last_line(err) or _last_line(out)}",
        )
    seconds = time.perf_counter() - start
    for line in out.splitlines():
        if line.startswith(RESULT):
            figures = json.loads(line[len(RESULT) :])
            return dict(status="ok", seconds=seconds, figures=figures)
    return dict(
        status="failed",
        seconds=seconds,
        reason=f"exit code {proc.returncode}: {_error_line(err)}",
    )


def in_process(name, args, shard, limit):
    """Run part ``name`` here (no isolation, no enforced limit)."""
    import torch

    torch.manual_seed(0)
    sizes = TINY if args.cpu_tiny else FULL
    start = time.perf_counter()
    try:
        figures = globals()[f"part_{name}"](sizes, shard)
    except Exception as error:
        return dict(
            status="failed",
            seconds=time.perf_counter() - start,
            reason=f"{type(error).__name__}: {error}"[:1000],
        )
    seconds = time.perf_counter() - start
    figures = json.loads(json.dumps(figures, default=str))
    if seconds > limit:
        return dict(
            status="timeout",
            seconds=seconds,
            reason=f"took {seconds:.0f} s, over its limit of {limit:.0f} s",
            figures=figures,
        )
    return dict(status="ok", seconds=seconds, figures=figures)


def _last_line(text):
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1].strip()[:500] if lines else ""


def _error_line(text):
    """The exception line of a traceback (else the last line)."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    for line in reversed(lines):
        head = line.split(":", 1)[0]
        if head.endswith(("Error", "Exception", "Exit")) and " " not in head:
            return line[:1000]
    return lines[-1][:1000] if lines else "(no output)"


def _finite(value):
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _fmt(value, spec):
    try:
        return format(float(value), spec) if math.isfinite(float(value)) else "n/a"
    except (TypeError, ValueError):
        return "n/a"


def summarise(report, sizes):
    """One paragraph per part: its figures, or why it has none."""
    lines = []
    for name, entry in report["parts"].items():
        head = f"[{name}] {entry['status']} in {entry['seconds']:.0f} s"
        if entry["status"] != "ok":
            lines.append(f"{head}: {entry['reason']}")
            continue
        f = entry["figures"]
        if name == "versions":
            body = ", ".join(f"{k} {v}" for k, v in f.items())
        elif name.startswith("project") or name == "bare":
            setup = f.get("setup_s", f.get("compile_s"))
            label = "set-up incl. compile" if "setup_s" in f else "compile"
            body = (
                f"{label} {_fmt(setup, '.1f')} s, {_fmt(f['ms_step'], '.1f')} "
                f"ms/step, {_fmt(f['tokens_s'], ',.0f')} tokens/s, MFU "
                f"{_fmt(100 * f['mfu'], '.1f')}{'%' * _finite(f['mfu'])}, peak memory "
                f"{_fmt(f['mem_gib'], '.2f')} GiB; synchronised step: data "
                f"{_fmt(f['data'], '.1f')} ms, fwd+bwd {_fmt(f['fwd_bwd'], '.1f')}"
                f" ms, optimizer {_fmt(f['optim'], '.1f')} ms, communication "
                f"{_fmt(f['reduce'], '.1f')} ms (micro-batch {f['micro_batch']})"
            )
        elif name == "smoke":
            body = (
                f"step-0 loss {f['loss_step0']:.4f} per token (ln V = "
                f"{f['expected_step0']:.4f}), after {len(f['losses']) - 1} "
                f"steps on one batch {f['loss_last']:.4f}"
            )
        elif name == "auto":
            body = (
                f"{f['chosen']} sequences per micro-batch for "
                f"{f['sequences_per_gpu']} per GPU (Track 3 runs "
                f"{f['track3_micro_batch']}); set-up {f['setup_s']:.1f} s"
            )
        else:
            body = (
                f"{f['tokens']:,} tokens in {f['pass_s']:.2f} s "
                f"({_fmt(f['tokens_s'], ',.0f')} tokens/s) after "
                f"{_fmt(f['compile_s'], '.1f')} s of compilation; loss "
                f"{f['val_loss']:.4f} (untrained: ln V = {f['expected']:.4f})"
            )
        lines.append(f"{head}: {body}")
    ratio = report.get("project_over_bare")
    if ratio is not None:
        lines.append(
            f"project (muon) / bare loop, ms per step: {ratio:.3f} "
            "(1 = as fast as the bare Track 3 loop)"
        )
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    sizes = TINY if args.cpu_tiny else FULL
    if args.part:
        return run_part(args.part, sizes, args.data)
    report = dict(mode="cpu-tiny" if args.cpu_tiny else "gpu", sizes=asdict(sizes))
    report["parts"] = {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        shard = write_data(tmp, sizes)
        for name in args.parts:
            left = args.total_limit - (time.perf_counter() - start)
            if left < 5:
                report["parts"][name] = dict(
                    status="skipped",
                    seconds=0.0,
                    reason=f"the check's {args.total_limit:.0f} s were spent",
                )
                continue
            limit = min(LIMITS[name] * args.scale_limits, left)
            print(f"[{name}] running (limit {limit:.0f} s)", flush=True)
            run = in_process if args.in_process else spawn
            report["parts"][name] = run(name, args, shard, limit)
    parts = report["parts"]
    if all(parts.get(k, {}).get("status") == "ok" for k in ("project_muon", "bare")):
        report["project_over_bare"] = (
            parts["project_muon"]["figures"]["ms_step"]
            / parts["bare"]["figures"]["ms_step"]
        )
    report["seconds"] = time.perf_counter() - start
    print(summarise(report, sizes))
    print(f"total {report['seconds']:.0f} s", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    failed = [k for k, v in parts.items() if v["status"] != "ok"]
    if failed:
        print(f"parts without figures: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
