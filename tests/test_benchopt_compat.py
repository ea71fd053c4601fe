"""The benchopt private hooks of ``benchmark_utils.benchopt_compat`` still
work as the module says: these tests fail if a benchopt upgrade changes
them."""

import inspect
import pickle
import re
from pathlib import Path

import joblib
from benchopt import runner
from benchopt.benchmark import Benchmark
from benchopt.utils.parametrized_name_mixin import ParametrizedNameMixin

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
