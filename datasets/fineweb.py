from benchopt import BaseDataset

from benchmark_utils.hub import HubShardSource
from benchmark_utils.paths import data_dir

# The default problem's budget (objective defaults: 6000 steps x 524,288
# tokens), which ``benchopt prepare`` downloads ahead of a run.
DEFAULT_TRAIN_TOKENS = 6000 * 524_288 + 1


class Dataset(BaseDataset):
    """FineWeb 10B, GPT-2 tokens (``kjj0/fineweb10B-gpt2``), target 3.28.

    Downloads the validation shard and only the training shards that the
    run's budget (max_steps x batch_tokens) needs; files already present are
    used without network.
    """

    name = "fineweb"
    parameters = {"target": [3.28]}
    prepare_cache_ignore = ("base_seed",)

    def _source(self):
        return HubShardSource(
            repo_id="kjj0/fineweb10B-gpt2",
            prefix="fineweb",
            n_train_shards=103,
            local_dir=data_dir("fineweb"),
            target=self.target,
            name=self.name,
        )

    def prepare(self):
        source = self._source()
        source.val_file()
        source.train_files(DEFAULT_TRAIN_TOKENS)

    def get_data(self):
        return dict(source=self._source())
