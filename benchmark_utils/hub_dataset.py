"""The benchopt dataset class shared by the hub datasets (fineweb,
fineweb_edu): a lazy source, and ``benchopt prepare`` for the default budget."""

from benchopt import BaseDataset

from .hub import DEFAULT_TRAIN_TOKENS, hub_source


class HubShardDataset(BaseDataset):
    """Subclasses set ``name`` (a key of ``hub.HUB_DATASETS``) and a
    ``target`` parameter."""

    prepare_cache_ignore = ("base_seed",)

    def _source(self):
        return hub_source(self.name, target=self.target)

    def prepare(self):
        self._source().require(DEFAULT_TRAIN_TOKENS)

    def get_data(self):
        # Lazy: nothing is downloaded until the objective asks for files.
        return dict(source=self._source())
