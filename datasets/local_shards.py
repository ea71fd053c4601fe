from pathlib import Path

from benchopt import BaseDataset

from benchmark_utils.benchopt_compat import ContentKeyedDataset
from benchmark_utils.data.errors import DataError
from benchmark_utils.data.paths import data_dir
from benchmark_utils.data.sources import (
    folder_fingerprint,
    folder_source,
    shard_patterns,
)

# Relative folders start at the benchmark folder, whatever the current one.
BENCHMARK_DIR = Path(__file__).resolve().parents[1]


class Dataset(ContentKeyedDataset, BaseDataset):
    """Any folder of token shards: your own corpus (written by ``python -m
    benchmark_tools.tokenizer``) or e.g. ``../shared/data/sotu``.

    - ``folder``: the shard folder (default ``<data_home>/local_shards``);
      quote it: ``-d 'local_shards[folder="../shared/data/sotu"]'``.
    - ``train_pattern``: glob of the training shards, in natural order.
    - ``val_file``: the validation shard, a name or a glob matching exactly
      one file (never trained on); the objective's ``val_tokens`` must fit.
    - ``repeat_data``: wrap around the training shards (epochs) when the
      budget needs more tokens than they hold (SOTU's 1.9M tokens do).
    - ``target``: target validation loss; None trains for the whole budget.
    - ``allow_incomplete``: train on a folder whose tokenization has not
      finished (refused by default, with the command that resumes it).

    Token ids are checked against the manifest's ``n_vocab`` (else GPT-2's)
    when the run opens the files; the files' names, sizes and modification
    times are part of benchopt's cache key, so changed shards train again.
    """

    name = "local_shards"
    parameters = {
        "folder": [None],
        "train_pattern": ["*_train_*.bin"],
        "val_file": ["*_val_*.bin"],
        "repeat_data": [False],
        "target": [None],
        "allow_incomplete": [False],
    }
    # The project's development corpus: its tests are skipped where it is absent.
    test_parameters = {"folder": ["../shared/data/sotu"], "repeat_data": [True]}

    def resolved_folder(self):
        if self.folder is None:
            return data_dir(self.name)
        folder = Path(str(self.folder)).expanduser()
        return folder if folder.is_absolute() else BENCHMARK_DIR / folder

    def content_fingerprint(self):
        patterns = shard_patterns(self.train_pattern, self.val_file)
        return folder_fingerprint(self.resolved_folder(), patterns)

    def get_data(self):
        for key in ("repeat_data", "allow_incomplete"):
            value = getattr(self, key)
            if not isinstance(value, bool):  # bool("false") would be True
                raise DataError(
                    f"{self.name}: {key}={value!r} must be True or False, e.g. "
                    f"benchopt run . -d '{self.name}[{key}=True]' (with your "
                    "other options)"
                )
        settings = {k: getattr(self, k) for k in self.parameters if k != "folder"}
        source = folder_source(self.resolved_folder(), name=self.name, **settings)
        return dict(source=source)
