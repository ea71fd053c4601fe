"""benchopt test hooks: each skip states why it cannot run here."""

from pathlib import Path

import pytest


def check_test_dataset_get_data(benchmark, dataset):
    if dataset.name == "local_shards":
        folder = Path(benchmark.benchmark_dir) / dataset.test_parameters["folder"][0]
        if not folder.resolve().is_dir():
            pytest.skip(
                f"local_shards reads real shards; its test folder {folder} "
                "(the SOTU development corpus, ../shared/data/sotu) is not "
                "present. tests/test_local_datasets.py covers it with "
                "generated shards."
            )
