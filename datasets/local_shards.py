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

# Relative folders are relative to the benchmark folder (where objective.py
# is), whatever the current directory.
BENCHMARK_DIR = Path(__file__).resolve().parents[1]


class Dataset(ContentKeyedDataset, BaseDataset):
    """Any folder of token shards: your own corpus (written by
    ``python -m benchmark_tools.tokenizer``) or e.g. ``../shared/data/sotu``.

    Parameters:

    - ``folder``: the shard folder; None (default) is the benchmark's data
      folder ``<data_home>/local_shards``. Relative paths start at the
      benchmark folder. Quote it on the command line:
      ``-d 'local_shards[folder="../shared/data/sotu"]'``.
    - ``train_pattern``: glob of the training shards, in natural order.
    - ``val_file``: the validation shard, a name or a glob matching exactly
      one file (excluded from training). The objective's ``val_tokens`` must
      fit in it (at most its token count minus one): a clear error otherwise.
    - ``repeat_data``: wrap around the training shards (epochs) when the
      budget needs more tokens than they hold; False raises a clear error.
      A small corpus (SOTU: 1.9M training tokens) needs it for longer runs.
    - ``target``: target validation loss; None (default) trains for the
      whole step budget.
    - ``allow_incomplete``: train on a folder whose tokenization has not
      finished (its ``*_tokenize.json`` manifest says incomplete). False
      (default) refuses it and gives the command that resumes it.

    Token ids are checked against the vocabulary (the manifest's ``n_vocab``,
    else GPT-2's 50,257) when the run opens the files. The names, sizes and
    modification times of the files the patterns match are part of
    benchopt's cache key: a shard replaced or rewritten trains again.
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
    # The development corpus of this project; test_config.py skips the
    # dataset's tests where the folder is absent.
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
        source = folder_source(
            self.resolved_folder(),
            train_pattern=self.train_pattern,
            val_file=self.val_file,
            repeat_data=self.repeat_data,
            target=self.target,
            name=self.name,
            allow_incomplete=self.allow_incomplete,
        )
        return dict(source=source)
