"""The benchopt private hooks of ``benchmark_utils.benchopt_compat`` still
work as the module says: these tests fail if a benchopt upgrade changes
them."""

import inspect
import pickle
import re
from pathlib import Path

import joblib
import pytest
from benchopt import runner
from benchopt.benchmark import Benchmark
from benchopt.utils.parametrized_name_mixin import ParametrizedNameMixin

from benchmark_utils import benchopt_compat
from benchmark_utils.benchopt_compat import ContentKeyedDataset

ROOT = Path(__file__).resolve().parents[1]


def test_content_fingerprint_is_part_of_benchopts_cache_key(monkeypatch, tmp_path):
    """benchopt hashes a dataset by pickling it (joblib), through
    ``ParametrizedNameMixin.__reduce__``, whose state is ``_get_state()``:
    a changed fingerprint must change the hash, the same one must not, and
    the dataset must still unpickle (benchopt's workers do it)."""
    assert "_get_state()" in inspect.getsource(ParametrizedNameMixin.__reduce__)
    # run_one_to_cvg is cached with the dataset in its key
    cached = re.search(
        r"benchmark\.cache\(\s*run_one_to_cvg,\s*ignore=\[([^\]]*)\]",
        inspect.getsource(runner),
    )
    assert cached and "dataset" not in cached.group(1)

    benchmark = Benchmark(ROOT)
    (Dataset,) = [d for d in benchmark.get_datasets() if d.name == "local_shards"]
    assert issubclass(Dataset, ContentKeyedDataset)
    dataset = Dataset.get_instance(folder=str(tmp_path))
    fingerprint = [["a_train_000001.bin", 10, 1, 1]]
    monkeypatch.setattr(Dataset, "content_fingerprint", lambda self: fingerprint)
    first = joblib.hash(dataset)
    assert joblib.hash(Dataset.get_instance(folder=str(tmp_path))) == first
    fingerprint[0][2] = 2  # the file was rewritten
    assert joblib.hash(dataset) != first
    again = pickle.loads(pickle.dumps(dataset))
    assert again.folder == str(tmp_path)


# -- the run context, the solver, the objective, the callback ---------------------


def test_run_context_is_attached_as_documented(tmp_path):
    from benchopt.utils.run_context import RunContext

    from benchmark_utils import benchopt_compat as compat

    context = RunContext(run_output_base=tmp_path, solver_name="s", repetition=1)
    assert compat.run_output_base(context) == tmp_path
    assert compat.run_names(context)["idx_rep"] == 1
    assert "klass._run_context = self" in inspect.getsource(RunContext.attach)


def test_solver_and_objective_privates_are_set_by_benchopt():
    from benchopt import BaseObjective, BaseSolver

    from benchmark_utils import benchopt_compat as compat

    set_objective = inspect.getsource(BaseSolver._set_objective)
    assert "self._objective = objective" in set_objective
    set_dataset = inspect.getsource(BaseObjective._set_dataset)
    assert "self._dataset = dataset" in set_dataset
    solver = benchmark_solver("adamw", lr=0.5)
    assert compat.solver_parameters(solver)["lr"] == 0.5
    compat.set_solver_objective(solver, "objective")
    assert compat.solver_objective(solver) == "objective"


def benchmark_solver(name, **params):
    from benchmark_tools.components import make_solver

    return make_solver(name, **params)


def test_callback_attributes_are_benchopts():
    from benchopt.callback import _Callback

    source = inspect.getsource(_Callback)
    for attribute in ("self.next_stopval", "self.it", "self.status"):
        assert attribute in source, attribute
    # get_results returns _last_result; settle_callback writes it
    assert "self._last_result" in inspect.getsource(_Callback.get_results)
    assert "_last_it_log" in source


def test_run_errors_are_reported_through_benchopts_handler(capsys):
    """benchopt runs every run inside runner.exception_handler, looked up as a
    module global: the wrapped handler prints a quiet error as one line and
    the run still ends as 'error'."""
    from benchmark_utils import benchopt_compat as compat

    assert "with exception_handler(" in inspect.getsource(runner.run_one_to_cvg)
    original = runner.exception_handler
    # objective.py (imported by other tests) may have wrapped it already
    runner.exception_handler = getattr(original, "nanogpt_original", original)
    seen = []
    try:
        compat.report_run_errors(lambda e: isinstance(e, KeyError), seen.append)
        compat.report_run_errors(lambda e: True, seen.append)  # idempotent
        with runner.exception_handler(terminal=None) as ctx:
            raise KeyError("bad input")
        assert ctx.status == "error" and len(seen) == 1
        err = capsys.readouterr().err
        assert "error: 'bad input'" in err and "Traceback" not in err
    finally:
        runner.exception_handler = original


# -- benchopt's parameter syntax (the sweep) --------------------------------------


def test_parse_values_reads_benchopts_value_syntax():
    assert benchopt_compat.parse_values("0.01,1e-3,3") == [0.01, 0.001, 3]
    assert benchopt_compat.parse_values("cosine,'wsd',True,None") == [
        "cosine",
        "wsd",
        True,
        None,
    ]
    assert benchopt_compat.parse_values("(0.9,0.95),(0.8,0.95)") == [
        (0.9, 0.95),
        (0.8, 0.95),
    ]


def test_parse_values_rejects_unreadable_text():
    with pytest.raises(ValueError):
        benchopt_compat.parse_values("(0.9,")


def test_parse_name_reads_a_name_as_benchopt_run_does():
    base, args, kwargs = benchopt_compat.parse_name(
        'adamw[lr=0.01,schedule="cosine",betas=[(0.9, 0.95)],warmup=0]'
    )
    assert (base, args) == ("adamw", [])
    assert kwargs == dict(lr=0.01, schedule="cosine", betas=[(0.9, 0.95)], warmup=0)
    assert benchopt_compat.parse_name("simulated") == ("simulated", [], {})
    # A bare list is one configuration per item, as on the command line.
    assert benchopt_compat.parse_name("adamw[lr=[0.01,0.02]]")[2] == {
        "lr": [0.01, 0.02]
    }
