"""GPU self-check: does the CUDA path work, and how fast is it against a bare
Track 3 training loop? One GPU, under 8 minutes including compilation.

    bash benchmarks/gpu_check.sh              # on a machine with a GPU
    bash benchmarks/gpu_check.sh --cpu-tiny   # tiny model on CPU (what CI runs)

Six parts, each in its own process under its own time limit (one that fails
or runs out of time is reported with the reason and the next one runs: a CUDA
error cannot poison the later parts); the README's "GPU self-check" says what
each measures. The bare loop follows ``train_gpt_simple.py`` of
KellerJordan/modded-nanogpt's ``records/track_3_optimization``: the model in
bf16, ``torch.compile(dynamic=False)``, ``torch.optim.Muon`` (coefficients
(2, -1.5, 0.5), 12 steps) on the hidden matrices, fused AdamW on the rest, the
tokens already on the GPU. ``--cpu-tiny`` runs the parts on a 2-layer, 64-wide
model with a 256-token vocabulary, uncompiled (tests/test_compile.py covers the
compiled CPU path), in seconds; tests/test_gpu_check.py runs it.
"""

import argparse
import json
import math
import os
import platform
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402  (which puts the repository on the path)
import torch  # noqa: E402

from benchmark_tools.components import make_solver  # noqa: E402
from benchmark_utils.data.shards import read_tokens  # noqa: E402
from benchmark_utils.models import build_model, make_config  # noqa: E402
from benchmark_utils.training.evaluation import validation_loss  # noqa: E402
from benchmark_utils.training.metrics import flops_per_token, peak_tflops  # noqa: E402
from benchmark_utils.training.runtime import resolve_device  # noqa: E402

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
    model: str = "track3"
    vocab: int = 50257
    seq_len: int = 1024
    batch_tokens: int = 524_288
    micro_batch: int = 64  # Track 3's
    steps: int = 5  # timed steps (and as many instrumented ones)
    warmup_steps: int = 2  # after the trainer's own warm-up
    compile: bool = True
    device: str = "cuda"
    val_tokens: int = 10_485_760
    smoke_sequences: int = 16
    smoke_steps: int = 20
    ranks_of_batch: int = 8  # auto: one GPU's share of an 8-GPU batch

    @property
    def dtype(self):
        return "bfloat16" if self.device == "cuda" else "float32"


FULL = Sizes()
TINY = replace(
    FULL,
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
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--cpu-tiny", action="store_true", help="tiny model, CPU")
    add("--parts", nargs="+", choices=PARTS, default=PARTS)
    add("--total-limit", type=float, default=TOTAL_LIMIT_S)
    add("--json", help="write every figure here")
    add("--in-process", action="store_true", help="parts in this process, no limits")
    add("--scale-limits", type=float, default=1.0, help="multiply the time limits")
    add("--part", help=argparse.SUPPRESS)  # in a part's own process
    add("--data", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# -- the parts (each in its own process) -----------------------------------------


def _device(sizes):
    if sizes.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "torch sees no GPU (torch.cuda.is_available() is False): run on a "
            "machine with a GPU and a CUDA build of torch, or pass --cpu-tiny"
        )
    return resolve_device(sizes.device)


def _config(sizes):
    return make_config(sizes.model, sizes.vocab, sizes.seq_len, sizes.dtype)


def _solver(sizes, shard, name, **kw):
    """Solver ``name`` set up by the trainer (compiled: its warm-up compiles)
    for a problem of ``sizes`` on ``shard``, and the seconds that took."""
    _device(sizes)
    settings = dict(
        batch_tokens=sizes.batch_tokens,
        micro_batch=sizes.micro_batch,
        steps=2 * sizes.steps + sizes.warmup_steps + 3,
        device=sizes.device,
        compile=sizes.compile,
    )
    problem = harness.training_problem(
        _config(sizes), shard, sizes.seq_len, **settings | kw
    )
    solver = make_solver(name)
    start = time.perf_counter()
    solver.set_objective(problem)
    return solver, time.perf_counter() - start


def _tokens(shard, n_tokens, device):
    return torch.from_numpy(read_tokens(shard, 0, n_tokens)).to(device)


def part_versions(sizes, shard):
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
    out["peak_tflops"] = peak_tflops(torch.device(sizes.device))
    return out


def part_project(sizes, shard, name):
    """The project's trainer and solver ``name``, timed by the harness (the
    same figures as benchmarks/train_throughput.py)."""
    solver, setup_s = _solver(sizes, shard, name)
    row = harness.measure_solver(solver, sizes.steps, sizes.warmup_steps)
    return dict(solver=name, setup_s=setup_s, compiled=solver.compiled, **row)


def part_bare(sizes, shard):
    """The bare loop: Track 3's script reduced to its training step."""
    device, config = _device(sizes), _config(sizes)
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
    aux = [(groups.embedding, 0.7), (groups.head, 0.004), (groups.scalars, 0.015)]
    adam = torch.optim.AdamW(
        [dict(params=params, lr=lr) for params, lr in aux if params],
        betas=(0.8, 0.95),
        eps=1e-10,
        weight_decay=0.001,
        fused=device.type == "cuda",
    )
    train = torch.compile(model, dynamic=False) if sizes.compile else model
    micro_tokens = sizes.micro_batch * sizes.seq_len
    n_tokens = (2 * sizes.steps + sizes.warmup_steps + 2) * sizes.batch_tokens
    tokens = _tokens(shard, n_tokens + 1, device)
    starts = iter(range(0, n_tokens, micro_tokens))
    shape = (sizes.micro_batch, sizes.seq_len)
    scale = config.grad_scale(sizes.batch_tokens)

    def batch():
        start = next(starts)
        chunk = tokens[start : start + micro_tokens + 1]
        return chunk[:-1].view(shape), chunk[1:].view(shape)

    def step(phase):
        for _ in range(sizes.batch_tokens // micro_tokens):
            x, y = phase("data", batch)
            phase("fwd_bwd", lambda x=x, y=y: (train(x, y) * scale).backward())
        phase("optim", lambda: (muon.step(), adam.step()))
        model.zero_grad(set_to_none=True)

    # Track 3's script compiles in its first steps too.
    first_two_s = harness.timed(
        device, lambda: [step(harness.untimed) for _ in range(2)]
    )[0]
    per_token = flops_per_token(model, config, sizes.seq_len)
    figures = harness.measure(
        device, step, sizes.steps, sizes.warmup_steps, sizes.batch_tokens, per_token
    )
    compile_s = first_two_s - 2 * figures["ms_step"] / 1000
    return dict(
        compile_s=compile_s if sizes.compile else math.nan,
        micro_batch=sizes.micro_batch,
        **figures,
        reduce=0.0,
    )


def part_smoke(sizes, shard):
    """Step-0 loss and 20 steps of the Muon solver on one repeated batch
    (uncompiled: this checks the numbers, not the speed)."""
    batch_tokens = sizes.smoke_sequences * sizes.seq_len
    solver, _ = _solver(
        sizes,
        shard,
        "muon",
        batch_tokens=batch_tokens,
        micro_batch=sizes.smoke_sequences,
        compile=False,
    )
    model = solver.model
    chunk = _tokens(shard, batch_tokens + 1, solver.device)
    shape = (sizes.smoke_sequences, sizes.seq_len)
    x, y = chunk[:-1].view(shape), chunk[1:].view(shape)
    losses = []
    for _ in range(sizes.smoke_steps):
        loss = model(x, y)
        losses.append(loss.item() / y.numel())
        (loss * solver.grad_scale).backward()
        for optimizer_step in solver._optimizer_steps:
            optimizer_step()
        model.zero_grad(set_to_none=True)
    losses.append(model(x, y).item() / y.numel())
    expected = math.log(model.config.padded_vocab_size)
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
    share = sizes.batch_tokens // sizes.ranks_of_batch
    solver, setup_s = _solver(
        sizes, shard, "muon", batch_tokens=share, micro_batch="auto"
    )
    return dict(
        sequences_per_gpu=share // sizes.seq_len,
        chosen=solver.problem.micro_batch_size,
        grad_accum=solver.grad_accum,
        track3_micro_batch=64,
        setup_s=setup_s,
        compiled=solver.compiled,
    )


def part_validation(sizes, shard):
    """One validation pass the objective's way: ``validation_loss`` over
    ``val_tokens`` tokens, batches of the micro-batch size, through the model
    compiled as the trainer compiles it."""
    device = _device(sizes)
    model = build_model(_config(sizes), 0).to(device)
    evaluated = torch.compile(model, dynamic=False) if sizes.compile else model
    val = _tokens(shard, sizes.val_tokens + 1, device)
    batch = sizes.micro_batch
    x = val[: batch * sizes.seq_len].view(batch, sizes.seq_len)
    evaluated.eval()
    with torch.no_grad():  # the warm-up call the trainer makes (compiles)
        compile_s = harness.timed(device, lambda: evaluated(x, x))[0]
    pass_s, loss = harness.timed(
        device, lambda: validation_loss(evaluated, val, sizes.seq_len, batch, device)
    )
    return dict(
        compile_s=compile_s if sizes.compile else math.nan,
        pass_s=pass_s,
        tokens=sizes.val_tokens,
        tokens_s=sizes.val_tokens / pass_s,
        val_loss=loss,
        expected=math.log(model.config.padded_vocab_size),
    )


def attempt(name, sizes, shard):
    """Part ``name``'s entry in the report: its figures, or why it has none."""
    torch.manual_seed(0)
    if sizes.device == "cpu":
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or 1))
    start = time.perf_counter()
    try:
        if name.startswith("project_"):
            figures = part_project(sizes, shard, name.removeprefix("project_"))
        else:
            figures = globals()[f"part_{name}"](sizes, shard)
        entry = dict(status="ok", figures=json.loads(json.dumps(figures, default=str)))
    except Exception as error:
        entry = dict(status="failed", reason=f"{type(error).__name__}: {error}"[:1000])
    return dict(entry, seconds=time.perf_counter() - start)


# -- the driver ----------------------------------------------------------------


def spawn(name, args, shard, limit):
    """Run part ``name`` in a new process group; kill it at ``limit`` s."""
    cmd = [sys.executable, __file__, "--part", name, "--data", str(shard)]
    cmd += ["--cpu-tiny"] if args.cpu_tiny else []
    start = time.perf_counter()
    # A new session: its compile workers die with it.
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        status, reason = "timeout", f"no result within its limit of {limit:.0f} s; "
        # What the trainer already said is worth keeping (the probe's pick).
        said = [line for line in err.splitlines() if "micro_batch_size=" in line]
        reason += "".join(f"{line.strip()}; " for line in said)
    else:
        for line in out.splitlines():
            if line.startswith(RESULT):
                entry = json.loads(line.removeprefix(RESULT))
                return dict(entry, seconds=time.perf_counter() - start)
        # A crash (no Python exception to report): what it said last.
        status, reason = "failed", f"exit code {proc.returncode}; "
    last = [line.strip() for line in (err or out).splitlines() if line.strip()]
    return dict(
        status=status,
        seconds=time.perf_counter() - start,
        reason=reason + f"last output: {last[-1][:500] if last else '(none)'}",
    )


def in_process(name, args, shard, limit):
    """Run part ``name`` here (no isolation, no enforced limit)."""
    entry = attempt(name, TINY if args.cpu_tiny else FULL, shard)
    if entry["status"] == "ok" and entry["seconds"] > limit:
        reason = f"took {entry['seconds']:.0f} s, over its limit of {limit:.0f} s"
        entry.update(status="timeout", reason=reason)
    return entry


LOOP = (
    "{ms_step:.1f} ms/step, {tokens_s:,.0f} tokens/s, MFU {mfu:.1%}, peak memory "
    "{mem_gib:.2f} GiB; synchronised step: data {data:.1f} ms, fwd+bwd "
    "{fwd_bwd:.1f} ms, optimizer {optim:.1f} ms, communication {reduce:.1f} ms "
    "(micro-batch {micro_batch})"
)
SUMMARIES = {
    "project": "set-up incl. compile {setup_s:.1f} s, " + LOOP,
    "bare": "compile {compile_s:.1f} s, " + LOOP,
    "smoke": "step-0 loss {loss_step0:.4f} per token (ln V = {expected_step0:.4f}), "
    "after {steps} steps on one batch {loss_last:.4f}",
    "auto": "{chosen} sequences per micro-batch for {sequences_per_gpu} per GPU "
    "(Track 3 runs {track3_micro_batch}); set-up {setup_s:.1f} s",
    "validation": "{tokens:,} tokens in {pass_s:.2f} s ({tokens_s:,.0f} tokens/s) "
    "after {compile_s:.1f} s of compilation; loss {val_loss:.4f} (untrained: "
    "ln V = {expected:.4f})",
}


class _Figures(string.Formatter):
    """Formats NaN (no MFU on CPU, no compilation) as "n/a"."""

    def format_field(self, value, spec):
        if isinstance(value, float) and math.isnan(value):
            return "n/a"
        return format(value, spec)


def summarise(report, sizes):
    """One paragraph per part: its figures, or why it has none."""
    lines = []
    for name, entry in report["parts"].items():
        head = f"[{name}] {entry['status']} in {entry['seconds']:.0f} s"
        f = entry.get("figures")
        if entry["status"] != "ok":
            lines.append(f"{head}: {entry['reason']}")
        elif name == "versions":
            lines.append(f"{head}: " + ", ".join(f"{k} {v}" for k, v in f.items()))
        else:
            summary = SUMMARIES[name.split("_")[0]]
            body = _Figures().format(summary, **f, steps=sizes.smoke_steps)
            lines.append(f"{head}: {body}")
    if "project_over_bare" in report:
        lines.append(
            f"project (muon) / bare loop, ms per step: "
            f"{report['project_over_bare']:.3f} (1 = as fast as the bare Track 3 loop)"
        )
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    sizes = TINY if args.cpu_tiny else FULL
    if args.part:
        print(RESULT + json.dumps(attempt(args.part, sizes, args.data)), flush=True)
        return 0
    parts = {}
    report = dict(mode="cpu-tiny" if args.cpu_tiny else "gpu", sizes=asdict(sizes))
    report["parts"] = parts
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        steps = 2 * sizes.steps + sizes.warmup_steps + 4
        n_tokens = max(steps * sizes.batch_tokens, sizes.val_tokens) + 1
        shard = harness.random_shard(tmp, sizes.vocab, n_tokens)  # for every part
        for name in args.parts:
            left = args.total_limit - (time.perf_counter() - start)
            if left < 5:
                reason = f"the check's {args.total_limit:.0f} s were spent"
                parts[name] = dict(status="skipped", seconds=0.0, reason=reason)
                continue
            limit = min(LIMITS[name] * args.scale_limits, left)
            print(f"[{name}] running (limit {limit:.0f} s)", flush=True)
            run = in_process if args.in_process else spawn
            parts[name] = run(name, args, shard, limit)
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
