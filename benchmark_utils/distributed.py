"""Data-parallel training on torch.distributed (one process per GPU).

Semantics (modded-nanogpt Track 3): every rank builds the same model from the
run's seed, reads only its share of every step (``BatchLoader(rank=,
world_size=)``), accumulates its micro-batches without communicating, and the
gradients are summed across ranks ONCE per step (DDP's bucketed all-reduce
with a SUM hook, overlapped with the backward of the last micro-batch). The
optimizers then see the gradient one process would see with the same global
batch. Muon-like optimizers (``torch.optim.Muon``, or any optimizer with the
attribute ``shard_across_ranks = True``) are split: each rank updates its
share of the matrices and the new values are all-gathered (:class:`ShardedStep`);
every other optimizer runs the same step on every rank.

Two ways in:

* ``launcher``: ``torchrun ... -m benchmark_utils.launch -- benchopt run ...``.
  Rank 0 runs benchopt; ranks > 0 run the launcher's worker loop: for each
  run, rank 0's ``TrainerSolver.set_objective`` sends them the solver,
  objective, dataset and problem, and they run the same loop, following rank
  0's evaluate/stop decisions.
* ``spmd``: every process runs the same code (a multi-task SLURM job from
  benchopt's submitit backend, or a script such as the throughput
  benchmark). Each rank has its own solver; rank 0's decisions are broadcast.

The job's process group (gloo, long timeout) carries only the commands
between runs; each run gets its own groups (NCCL on CUDA, gloo for flags),
created by every rank in :func:`setup_run` with the run timeout, and held by
the run's :class:`Context`, which the trainer passes to whatever needs it.

Environment, read when a job or run starts: RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR, MASTER_PORT (torchrun or submitit set them);
``NANOGPT_DIST_TIMEOUT`` (seconds, default 1800): the timeout of every
collective in a run, so a dead rank ends the run on every rank in bounded
time; it covers the first step's compilation (8 ranks compiling on a cold
cache can take several minutes); ``NANOGPT_DIST_IDLE_TIMEOUT`` (default 24 h):
how long workers wait between runs (rank 0 may be downloading data).
"""

import datetime
import os
import pickle
import re
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist

from . import benchopt_compat as compat
from .errors import FatalError, UserError

ENV_LAUNCHER = "NANOGPT_DIST_LAUNCHER"
ENV_TIMEOUT = "NANOGPT_DIST_TIMEOUT"
ENV_IDLE_TIMEOUT = "NANOGPT_DIST_IDLE_TIMEOUT"
DEFAULT_TIMEOUT_S = 1800
DEFAULT_IDLE_TIMEOUT_S = 24 * 3600


class RankFailure(FatalError):
    """A rank failed during a distributed run: the ranks can no longer stay in
    step, so the whole job must end (the entry point's boundary ends it)."""


def _env_int(name, default=None):
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def _timeout(name, default):
    return datetime.timedelta(seconds=float(os.environ.get(name) or default))


def timeout_s():
    return _timeout(ENV_TIMEOUT, DEFAULT_TIMEOUT_S).total_seconds()


@dataclass
class Context:
    """This process's place in a run. ``world_size == 1``: no communication."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    mode: str = None  # None, "launcher" or "spmd"
    group: object = None  # the run's training collectives (NCCL on CUDA)
    cpu_group: object = None  # gloo, same timeout: flags and objects

    @property
    def active(self):
        return self.world_size > 1

    @property
    def is_leader(self):
        return self.rank == 0

    def device_for(self, device):
        """The device of this rank: ``cuda`` becomes ``cuda:LOCAL_RANK``."""
        if device.type != "cuda" or not self.active:
            return device
        index = self.local_rank % torch.cuda.device_count()
        torch.cuda.set_device(index)
        return torch.device("cuda", index)

    def group_for(self, device):
        """The group whose backend can reduce tensors on ``device``."""
        if device.type == "cpu" or dist.get_backend(self.group) != "nccl":
            return self.cpu_group
        return self.group

    def broadcast_object(self, obj):
        box = [obj if self.is_leader else None]
        dist.broadcast_object_list(box, src=0, group=self.cpu_group)
        return box[0]

    def broadcast_flags(self, *flags):
        """Rank 0's small integers, on every rank (gloo, no GPU sync)."""
        t = torch.tensor(flags if self.is_leader else [0] * len(flags))
        dist.broadcast(t, src=0, group=self.cpu_group)
        return [int(v) for v in t.tolist()]


SINGLE = Context()


def _submitit_task_count():
    """Tasks of a submitit SLURM job (1 outside one)."""
    if os.environ.get("SUBMITIT_EXECUTOR") != "slurm":
        return 1
    return _env_int("SLURM_NTASKS", 1)


def init_job():
    """Join the job's process group from the environment (idempotent): gloo
    with the idle timeout, for the commands between runs. Returns the job's
    Context (no run groups yet), or ``SINGLE``."""
    if not dist.is_initialized():
        world_size = _env_int("WORLD_SIZE", 1)
        if world_size <= 1:
            return SINGLE
        dist.init_process_group(
            "gloo",
            rank=_env_int("RANK"),
            world_size=world_size,
            timeout=_timeout(ENV_IDLE_TIMEOUT, DEFAULT_IDLE_TIMEOUT_S),
        )
    return _job_context()


def _job_context():
    mode = "launcher" if os.environ.get(ENV_LAUNCHER) else "spmd"
    return Context(
        dist.get_rank(), dist.get_world_size(), _env_int("LOCAL_RANK", 0), mode
    )


def init_from_submitit():
    """A multi-task SLURM job from benchopt's submitit backend: every task runs
    benchopt's run; export the rank variables submitit knows and join."""
    from submitit.helpers import TorchDistributedEnvironment

    # Keep CUDA_VISIBLE_DEVICES: the device is chosen from LOCAL_RANK.
    # overwrite: a MASTER_PORT set by the user is the one submitit reads.
    TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
    return init_job()


def shutdown():
    if dist.is_initialized():
        dist.destroy_process_group()


def run_groups(job, device):
    """The run's Context: ``job`` with its own groups, created by every rank
    (collectively) with the run timeout."""
    if not job.active:
        return job
    timeout = _timeout(ENV_TIMEOUT, DEFAULT_TIMEOUT_S)
    cpu_group = dist.new_group(backend="gloo", timeout=timeout)
    group = cpu_group
    if device.type == "cuda":
        job.device_for(device)
        group = dist.new_group(backend="nccl", timeout=timeout)
    return Context(job.rank, job.world_size, job.local_rank, job.mode, group, cpu_group)


def setup_run(solver, problem, device):
    """Called by ``TrainerSolver.set_objective`` on every rank: join the job if
    needed, send the run to the launcher's workers (rank 0), and return the
    run's Context and rank 0's problem (identical on every rank)."""
    if not dist.is_initialized():
        if os.environ.get(ENV_LAUNCHER) is None and _submitit_task_count() > 1:
            init_from_submitit()
        elif os.environ.get(ENV_LAUNCHER) is None and _env_int("WORLD_SIZE", 1) > 1:
            raise UserError(TORCHRUN_WITHOUT_LAUNCHER)
    job = _job_context() if dist.is_initialized() else SINGLE
    if not job.active:
        return job, problem
    if job.mode == "launcher" and job.is_leader:
        objective = compat.solver_objective(solver)
        send_command(
            job,
            "run",
            dict(
                solver=solver,
                objective=objective,
                dataset=compat.objective_dataset(objective),
                problem=problem,
            ),
        )
    ctx = run_groups(job, device)
    return ctx, ctx.broadcast_object(problem)


TORCHRUN_WITHOUT_LAUNCHER = (
    "WORLD_SIZE > 1 but benchopt was started directly under torchrun (it "
    "would run the whole benchmark once per GPU). Launch it through the "
    "launcher: torchrun --nproc-per-node 8 -m benchmark_utils.launch -- "
    "benchopt run . --config configs/track3_8gpu.yml"
)


# -- launcher protocol ---------------------------------------------------------


def send_command(job, command, payload=None):
    """Rank 0 -> workers, between runs, on the job's group (long timeout: rank
    0 may be preparing data)."""
    data = pickle.dumps((command, payload))
    dist.broadcast_object_list([data], src=0)


def receive_command(job):
    box = [None]
    dist.broadcast_object_list(box, src=0)
    return pickle.loads(box[0])


# -- rank 0 decides ------------------------------------------------------------


def lead_decision(ctx, evaluates, callback):
    """Rank 0: call benchopt's ``callback`` and tell the other ranks whether it
    evaluates (they evaluate with it) and whether to go on."""
    if not ctx.active:
        return bool(callback())
    if evaluates:
        ctx.broadcast_flags(1, 0)
        keep = bool(callback())
        ctx.broadcast_flags(int(keep))
        return keep
    keep = bool(callback())
    ctx.broadcast_flags(0, int(keep))
    return keep


def follow_decision(ctx, evaluate):
    """Ranks > 0: evaluate when rank 0 does (``evaluate()``), and return rank
    0's decision to go on."""
    evaluates, keep = ctx.broadcast_flags(0, 0)
    if evaluates:
        evaluate()
        (keep,) = ctx.broadcast_flags(0)
    return bool(keep)


def silent_ranks(seconds=10):
    """After a collective failed: the ranks that no longer answer, found with
    gloo's monitored barrier on the job's group (every live rank calls it
    from its own failure path); None when that cannot be told."""
    try:
        dist.monitored_barrier(
            timeout=datetime.timedelta(seconds=seconds), wait_all_ranks=True
        )
    except RuntimeError as error:
        found = re.search(r"[Rr]anks? ([\d, ]+) failed", str(error))
        return [int(r) for r in re.findall(r"\d+", found.group(1))] if found else None
    except Exception:  # noqa: BLE001 - best effort: the message goes on without
        return None
    return []


def explain_failure(ctx, error):
    """A rank's view of a failed distributed run, naming what to check."""
    first_line = (str(error).strip().splitlines() or [""])[0]  # no stack dump
    text = f"{type(error).__name__}: {first_line}"
    if "timed out" in text.lower() or "timeout" in text.lower():
        silent = silent_ranks() if dist.is_initialized() else None
        who = (
            f"rank {', '.join(map(str, silent))} did not answer"
            if silent
            else "another rank"
        )
        text += (
            f". A collective waited longer than {ENV_TIMEOUT}="
            f"{timeout_s():.0f} s: {who} (crashed, killed or hung; its own "
            "output says why; a first step compiling on a cold cache may need "
            f"a larger {ENV_TIMEOUT})"
        )
    elif "connection" in text.lower() or "closed" in text.lower():
        text += ". Another rank's process ended (its own output says why)"
    return f"[rank {ctx.rank} of {ctx.world_size}] {text}"


# -- gradients and optimizers --------------------------------------------------


def _sum_hook(group, bucket):
    """DDP communication hook: SUM (DDP's default averages; Track 3 sums, the
    loss being the sum over the global batch)."""
    fut = dist.all_reduce(bucket.buffer(), group=group, async_op=True).get_future()
    return fut.then(lambda f: f.value()[0])


# DDP's gradient buckets. Under torch.compile each bucket boundary splits the
# compiled backward (DDPOptimizer), so DDP's default 25 MB cuts Track 3's
# ~650 MB of fp32 gradients into ~26 graphs; 128 MB gives ~6, still enough
# buckets for the all-reduce to overlap the rest of the backward. A choice
# from the arithmetic, not yet measured on GPUs (benchmarks/gpu_check.sh).
BUCKET_CAP_MB = 128


def wrap_model(model, ctx, device):
    """DDP over ``model`` with summed gradients (bucketed, overlapped with the
    backward of the step's last micro-batch; ``no_sync`` on the others)."""
    from torch.nn.parallel import DistributedDataParallel

    group = ctx.group_for(device)
    with warnings.catch_warnings():  # broadcast_buffers' deprecation notice
        warnings.simplefilter("ignore", FutureWarning)
        ddp = DistributedDataParallel(
            model,
            device_ids=[device.index] if device.type == "cuda" else None,
            process_group=group,
            broadcast_buffers=False,  # buffers are built identically per rank
            gradient_as_bucket_view=True,
            bucket_cap_mb=BUCKET_CAP_MB,
        )
    ddp.register_comm_hook(group, _sum_hook)
    return ddp


def is_sharded(optimizer):
    """Optimizers whose update of each tensor depends only on that tensor's
    gradient and state, and is expensive enough to split across ranks."""
    return isinstance(optimizer, torch.optim.Muon) or bool(
        getattr(optimizer, "shard_across_ranks", False)
    )


class ShardedStep:
    """``optimizer.step()`` split across ranks, as Track 3 does for Muon.

    Each parameter has one owner (largest first, to the least-loaded rank);
    a rank steps only the parameters it owns (the others' gradients are hidden
    for the step, so their state is never created there), then every rank
    all-gathers the owners' new values. The update is the one a single process
    computes from the same gradient, bit for bit.
    """

    def __init__(self, optimizer, ctx, device):
        self.optimizer, self.ctx = optimizer, ctx
        self.group = ctx.group_for(device)
        params = [p for g in optimizer.param_groups for p in g["params"]]
        load = [0] * ctx.world_size
        owner = {}
        for p in sorted(params, key=lambda p: -p.numel()):
            r = min(range(ctx.world_size), key=lambda i: (load[i], i))
            owner[id(p)] = r
            load[r] += p.numel()
        self.params = params
        self.mine = {id(p) for p in params if owner[id(p)] == ctx.rank}
        self.by_rank = [
            [p for p in params if owner[id(p)] == r] for r in range(ctx.world_size)
        ]

    def __call__(self):
        hidden = []
        for p in self.params:
            if id(p) not in self.mine and p.grad is not None:
                hidden.append((p, p.grad))
                p.grad = None
        try:
            self.optimizer.step()
        finally:
            for p, grad in hidden:
                p.grad = grad
        self.gather()

    @torch.no_grad()
    def gather(self):
        """Every owner's new values on every rank: per dtype, the owned
        tensors are packed into one flat buffer (padded to the largest
        share) and all ranks' buffers are gathered by one single-tensor
        collective (NCCL's all-gather; gloo supports it too), then unpacked
        with one foreach copy."""
        # all_gather_into_tensor was renamed all_gather_single in torch 2.14.
        collective = getattr(dist, "all_gather_single", None)
        if collective is None:
            collective = dist.all_gather_into_tensor
        device = self.params[0].device
        rank, world = self.ctx.rank, self.ctx.world_size
        for dtype in sorted({p.dtype for p in self.params}, key=str):
            shares = [[p for p in ps if p.dtype == dtype] for ps in self.by_rank]
            sizes = [[p.numel() for p in ps] for ps in shares]
            length = max(sum(s) for s in sizes)
            if length == 0:
                continue
            send = torch.zeros(length, dtype=dtype, device=device)
            if shares[rank]:
                views = send[: sum(sizes[rank])].split(sizes[rank])
                torch._foreach_copy_(
                    [v.view_as(p) for v, p in zip(views, shares[rank])],
                    shares[rank],
                )
            received = torch.empty(world * length, dtype=dtype, device=device)
            collective(received, send, group=self.group)
            targets, sources = [], []
            for r, ps in enumerate(shares):
                if r == rank or not ps:
                    continue
                start = r * length
                views = received[start : start + sum(sizes[r])].split(sizes[r])
                targets += ps
                sources += [v.view_as(p) for v, p in zip(views, ps)]
            if targets:
                torch._foreach_copy_(targets, sources)


def optimizer_steps(optimizers, ctx, device):
    """The callables that step ``optimizers`` on this rank."""
    if not ctx.active:
        return [opt.step for opt in optimizers]
    return [
        ShardedStep(opt, ctx, device) if is_sharded(opt) else opt.step
        for opt in optimizers
    ]


def all_reduce(tensor, ctx, op=None):
    """In-place SUM (or ``op``) across ranks of the run on the group that fits
    the tensor's device; a no-op when not distributed."""
    if ctx.active:
        dist.all_reduce(
            tensor, op=op or dist.ReduceOp.SUM, group=ctx.group_for(tensor.device)
        )
    return tensor


def share(n_items, ctx):
    """This rank's contiguous share ``[start, stop)`` of ``n_items``."""
    return (
        ctx.rank * n_items // ctx.world_size,
        (ctx.rank + 1) * n_items // ctx.world_size,
    )
