"""Checks of run settings, before anything runs.

A wrong setting is one :class:`SettingsError` naming the parameter, its
value, the valid range and what to do, instead of a ``ZeroDivisionError``
deep in the trainer, a run that trains zero steps, or a ``TypeError``
comparing a float with a string.
"""

import math

from .errors import UserError


class SettingsError(UserError, ValueError):
    """A run setting outside its valid range or of the wrong type."""


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def batch_problem(seq_len, batch_tokens, micro_batch_size, world_size=1):
    """``(problem, accum)``: what is wrong with splitting ``batch_tokens``
    into micro-batches of ``micro_batch_size`` sequences on ``world_size``
    processes (None if nothing), and the micro-batches per process and step."""
    per_step = seq_len * world_size
    if batch_tokens % per_step:
        lower = batch_tokens // per_step * per_step
        near = [f"batch_tokens={n}" for n in (lower, lower + per_step) if n > 0]
        return (
            f"batch_tokens={batch_tokens} must be a multiple of seq_len x "
            f"world_size = {seq_len} x {world_size} = {per_step:,} (whole "
            f"sequences on every process), e.g. {' or '.join(near)}"
        ), None
    sequences = batch_tokens // per_step
    if sequences % micro_batch_size:
        fits = [d for d in range(1, sequences + 1) if sequences % d == 0]
        shown = ", ".join(map(str, fits[:24])) + (", ..." if len(fits) > 24 else "")
        return (
            f"micro_batch_size={micro_batch_size} does not divide the "
            f"{sequences:,} sequences per process (batch_tokens "
            f"{batch_tokens:,} / (seq_len {seq_len} x world_size {world_size})): "
            f"use one of {shown}. The global batch is part of the problem; the "
            "micro-batch only sets memory use"
        ), None
    return None, sequences // micro_batch_size


def check_problem(
    seq_len,
    batch_tokens,
    micro_batch_size,
    max_steps,
    val_tokens,
    world_size=1,
    train_steps=None,
    eval_every=None,
):
    """Check the objective's problem settings; raise one
    :class:`SettingsError` listing every wrong parameter with its valid
    range. ``world_size``: processes sharing the global batch;
    ``train_steps``: the steps a run trains, in 1..max_steps. Returns the
    micro-batches per process and optimizer step."""
    problems, bad = [], set()
    for name, value, meaning, example in (
        ("seq_len", seq_len, "tokens per sequence", 1024),
        ("batch_tokens", batch_tokens, "tokens per optimizer step", 524288),
        ("micro_batch_size", micro_batch_size, "sequences per forward pass", 32),
        ("max_steps", max_steps, "the step budget", 6000),
        ("val_tokens", val_tokens, "validation tokens", 10485760),
        ("world_size", world_size, "processes", 1),
        ("train_steps", train_steps, "steps", 100),
        ("eval_every", eval_every, "steps", 100),
    ):
        optional = name in ("train_steps", "eval_every")
        if (_is_int(value) and value >= 1) or (optional and value is None):
            continue
        kind = "" if _is_int(value) else f" ({type(value).__name__})"
        problems.append(
            f"{name}={value!r}{kind}: must be an integer >= 1 ({meaning}), e.g. "
            f"{name}={example}"
        )
        bad.add(name)
    if train_steps is not None and not bad & {"train_steps", "max_steps"}:
        if train_steps > max_steps:
            problems.append(
                f"train_steps={train_steps}: must lie in 1..max_steps={max_steps}"
            )
    if not bad & {"seq_len", "val_tokens"} and val_tokens < seq_len:
        problems.append(
            f"val_tokens={val_tokens} is shorter than one sequence of "
            f"seq_len={seq_len}: use at least {seq_len} (a multiple of "
            "seq_len; the remainder is not evaluated)"
        )
    accum = None
    if not bad & {"seq_len", "batch_tokens", "world_size", "micro_batch_size"}:
        problem, accum = batch_problem(
            seq_len, batch_tokens, micro_batch_size, world_size
        )
        problems += [problem] if problem else []
    if problems:
        raise SettingsError("invalid objective settings:\n  " + "\n  ".join(problems))
    return accum


def check_val_tokens(val_tokens, seq_len, file_tokens, path):
    """Check that ``val_tokens`` (whole sequences of ``seq_len`` plus one
    target token) fit the validation file of ``file_tokens`` tokens; return
    the number of validation sequences."""
    if file_tokens < seq_len + 1:
        shorter = (
            f", or a seq_len of at most {file_tokens - 1:,}"
            if file_tokens >= 2
            else " (this one cannot hold a single prediction)"
        )
        raise SettingsError(
            f"the validation file {path} holds {file_tokens:,} tokens: fewer "
            f"than one sequence of seq_len={seq_len:,} plus its target token "
            f"({seq_len + 1:,} tokens). Use a larger validation file{shorter}"
        )
    if val_tokens + 1 > file_tokens:
        usable = (file_tokens - 1) // seq_len * seq_len
        raise SettingsError(
            f"val_tokens={val_tokens} does not fit the validation file "
            f"{path} ({file_tokens:,} tokens; the last target token needs one "
            f"more): use at most {file_tokens - 1:,} (evaluated: whole "
            f"sequences, {usable:,} tokens)"
        )
    return val_tokens // seq_len


# -- solver parameters ----------------------------------------------------

KIND_NAMES = {
    "any": "anything",
    "bool": "True or False",
    "number": "a finite number",
    "tuple": "a tuple",
    "str": "a string",
}


def _kind(default):
    """What a parameter accepts, from its default value (a key of KIND_NAMES)."""
    kinds = (("bool", bool), ("number", (int, float)), ("tuple", tuple), ("str", str))
    return next((kind for kind, t in kinds if isinstance(default, t)), "any")


def _convert(kind, value, default):
    """``(ok, value)``: ``value`` converted to the kind of ``default``."""
    if kind == "any":
        return True, value
    if kind == "bool":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return True, value.lower() == "true"
        return isinstance(value, bool), value
    if kind == "number":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False, value
        # ints for floats, and floats for ints (warmup=0 or warmup=0.05)
        if isinstance(default, float) and isinstance(value, int):
            value = float(value)
        return math.isfinite(value), value
    if kind == "tuple":
        if not isinstance(value, (tuple, list)) or len(value) != len(default):
            return False, value
        items = [_convert(_kind(d), v, d) for v, d in zip(value, default)]
        if not all(ok for ok, _ in items):
            return False, value
        return True, tuple(item for _, item in items)
    return isinstance(value, str), value


def _expected(solver_name, name, candidates):
    """What a parameter must be, with an example of the benchopt syntax."""
    kinds = []
    for candidate in candidates:
        kind = KIND_NAMES[_kind(candidate)] if candidate is not None else "None"
        if _kind(candidate) == "tuple":
            kind = f"a tuple of {len(candidate)} like {candidate!r}"
        if kind not in kinds:
            kinds.append(kind)
    example = candidates[0]
    shown = example if isinstance(example, str) else repr(example)
    note = ""
    if isinstance(example, tuple):  # benchopt reads a bare tuple as one run per item
        shown = f"[{example!r}]"
        note = " (in brackets: a bare tuple or list is one run per item)"
    return (
        f"must be {' or '.join(kinds)} (default {example!r}), e.g. "
        f'-s "{solver_name}[{name}={shown}]"{note}'
    )


def check_parameter_types(solver_name, defaults, values):
    """Check a solver's parameter ``values`` against the types of their
    ``defaults`` (name -> default, or the solver's ``parameters``: each
    candidate's type is accepted); return them converted (ints given for
    floats become floats, lists given for tuples become tuples).

    None alone accepts anything; None beside typed candidates makes them
    None-able; numbers accept ints and floats; bools accept the strings
    "true"/"false"; tuples accept tuples or lists of the same length and
    item types; learning rates and weight decays must be >= 0. Raises one
    :class:`SettingsError` naming the solver and every wrong parameter.
    """
    problems, out = [], {}
    for name, value in values.items():
        if name not in defaults:
            problems.append(
                f"unknown parameter {name}={value!r}; {solver_name}'s parameters "
                f"are: {', '.join(sorted(defaults))}"
            )
            continue
        default = defaults[name]
        candidates = (default if isinstance(default, list) else [default]) or [None]
        typed = [c for c in candidates if c is not None]
        if value is None and len(typed) < len(candidates):
            out[name] = None  # None is one of the defaults
            continue
        for candidate in typed or [None]:
            ok, converted = _convert(_kind(candidate), value, candidate)
            if ok:
                out[name] = converted
                break
        else:
            problems.append(
                f"{name}={value!r} ({type(value).__name__}) "
                + _expected(solver_name, name, candidates)
            )
    for name, value in out.items():
        # torch accepts no negative learning rate or weight decay
        is_rate = name == "lr" or name.endswith("_lr") or "weight_decay" in name
        if is_rate and isinstance(value, (int, float)) and value < 0:
            problems.append(
                f"{name}={value!r}: must be >= 0 (a learning rate or weight "
                f'decay), e.g. -s "{solver_name}[{name}={abs(value)!r}]"'
            )
    if problems:
        raise SettingsError(
            f"solver {solver_name!r}: invalid parameter(s):\n  " + "\n  ".join(problems)
        )
    return out
