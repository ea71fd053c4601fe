"""Data-parallel training on torch.distributed (one process per GPU).

As in modded-nanogpt Track 3: every rank builds the same model from the
run's seed, reads its share of every step (``BatchLoader(rank=,
world_size=)``), accumulates its micro-batches without communicating, and
the gradients are summed across ranks once per step (DDP with a SUM hook,
overlapped with the last backward). Muon-like optimizers (``torch.optim.Muon``
or ``shard_across_ranks = True``) are split: each rank updates its share of
the matrices, then all-gathers (:class:`ShardedStep`).

Two ways in: ``launcher`` (``torchrun -m benchmark_utils.launch -- benchopt
run ...``: rank 0 runs benchopt and sends each run to the other ranks, which
follow rank 0's evaluate/stop decisions) and ``spmd`` (every process runs the
same code: a multi-task SLURM job from benchopt's submitit backend, or a
script). The job's gloo group carries the commands between runs; each run
has its own groups, held by the :class:`Context` the trainer passes around.

Environment: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT
(torchrun or submitit); ``NANOGPT_DIST_TIMEOUT`` (s, default 1800, enough
for 8 ranks compiling on a cold cache): every collective of a run, so a dead
rank ends the run in bounded time; ``NANOGPT_DIST_IDLE_TIMEOUT`` (default
24 h): how long ranks > 0 wait between runs.
"""

import datetime
import os
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
    """A rank failed: the ranks can no longer stay in step, the job ends."""


def _env_int(name, default=None):
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def _timeout(name, default):
    return datetime.timedelta(seconds=float(os.environ.get(name) or default))


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


def init_job():
    """Join the job's gloo group (idle timeout) from the environment, once;
    return the job's Context (no run groups yet), or ``SINGLE``."""
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


def shutdown():
    if dist.is_initialized():
        dist.destroy_process_group()


def run_groups(job, device):
    """``job`` with the run's own groups (created by every rank)."""
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
    """On every rank, from ``TrainerSolver.set_objective``: join the job if
    needed, send the run to the launcher's ranks > 0 (from rank 0), and
    return the run's Context and rank 0's problem."""
    if not dist.is_initialized() and os.environ.get(ENV_LAUNCHER) is None:
        slurm = os.environ.get("SUBMITIT_EXECUTOR") == "slurm"
        if slurm and _env_int("SLURM_NTASKS", 1) > 1:
            # benchopt's submitit backend runs the run in every task.
            from submitit.helpers import TorchDistributedEnvironment

            # Keep CUDA_VISIBLE_DEVICES (the device comes from LOCAL_RANK);
            # overwrite: a MASTER_PORT the user set is the one submitit reads.
            TorchDistributedEnvironment().export(
                set_cuda_visible_devices=False, overwrite=True
            )
            init_job()
        elif _env_int("WORLD_SIZE", 1) > 1:
            raise UserError(TORCHRUN_WITHOUT_LAUNCHER)
    job = _job_context() if dist.is_initialized() else SINGLE
    if not job.active:
        return job, problem
    if job.mode == "launcher" and job.is_leader:
        objective = compat.solver_objective(solver)
        dataset = compat.objective_dataset(objective)
        payload = dict(solver=solver, objective=objective, dataset=dataset)
        send_command("run", dict(payload, problem=problem))
    ctx = run_groups(job, device)
    return ctx, ctx.broadcast_object(problem)


TORCHRUN_WITHOUT_LAUNCHER = (
    "WORLD_SIZE > 1 but benchopt was started directly under torchrun (it "
    "would run the whole benchmark once per GPU). Launch it through the "
    "launcher: torchrun --nproc-per-node 8 -m benchmark_utils.launch -- "
    "benchopt run . --config configs/track3_8gpu.yml"
)


def send_command(command, payload=None):
    """Rank 0 to the launcher's other ranks, between runs, on the job's group
    (long timeout: rank 0 may be preparing data)."""
    dist.broadcast_object_list([(command, payload)], src=0)


def receive_command():
    box = [None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


# -- rank agreement: rank 0 decides -------------------------------------------


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


def follow_decision(ctx, solver):
    """Ranks > 0: evaluate when rank 0 does (the same calls through the same
    objective, and so the same collectives), and return rank 0's decision to
    go on."""
    evaluates, keep = ctx.broadcast_flags(0, 0)
    if evaluates:
        result = solver.get_result()
        objective = compat.solver_objective(solver)
        if objective is not None:
            objective.evaluate_result(**result)
        (keep,) = ctx.broadcast_flags(0)
    return bool(keep)


def silent_ranks(seconds=10):
    """After a collective failed: the ranks that no longer answer (gloo's
    monitored barrier, which every live rank reaches from its failure path);
    None when that cannot be told."""
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
    """A failed run's message; distributed, this rank's view of it, naming
    what to check."""
    if not ctx.active:
        return f"{type(error).__name__}: {error}"
    first_line = (str(error).strip().splitlines() or [""])[0]  # no stack dump
    text = f"{type(error).__name__}: {first_line}"
    if "timed out" in text.lower() or "timeout" in text.lower():
        silent = silent_ranks() if dist.is_initialized() else None
        who = f"rank {', '.join(map(str, silent))}" if silent else "another rank"
        seconds = _timeout(ENV_TIMEOUT, DEFAULT_TIMEOUT_S).total_seconds()
        text += (
            f". A collective waited longer than {ENV_TIMEOUT}={seconds:.0f} s: "
            f"{who} did not answer (crashed, killed or hung; its own output "
            "says why; a first step compiling on a cold cache may need a "
            f"larger {ENV_TIMEOUT})"
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


# Under torch.compile each DDP bucket boundary splits the compiled backward:
# the default 25 MB cuts Track 3's ~650 MB of fp32 gradients into ~26
# graphs, 128 MB into ~6, still enough for the all-reduce to overlap the
# backward (from the arithmetic; benchmarks/gpu_check.sh measures it).
BUCKET_CAP_MB = 128


def wrap_model(model, ctx, device):
    """DDP over ``model`` with summed gradients."""
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
    a rank steps only its own (the others' gradients are hidden, so their
    state is never created there), then all-gathers the owners' new values:
    bit for bit the update of a single process.
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
        """Every owner's new values on every rank: per dtype, one flat buffer
        per rank (padded to the largest share), one all-gather, one foreach
        copy to unpack."""
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
    """In-place SUM (or ``op``) across the run's ranks; a no-op on one."""
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
