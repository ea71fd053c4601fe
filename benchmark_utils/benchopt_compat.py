"""Every use of benchopt's private attributes and internals, in one place.

benchopt (1.10) has no public API for some things the benchmark needs; each
function below says what it reaches into and why, and
``tests/test_benchopt_compat.py`` fails if a benchopt upgrade changes it.
Known to work with the benchopt versions pinned in ``requirements.txt``.
"""


class ContentKeyedDataset:
    """Mixin for a ``BaseDataset`` whose files can change under the same
    parameters (a folder of shards): ``content_fingerprint()`` joins the
    key of benchopt's result cache, so changed data is trained again rather
    than answered from the cache.

    Why a private hook: benchopt caches ``run_one_to_cvg`` with joblib, which
    hashes the dataset by pickling it, and ``ParametrizedNameMixin.__reduce__``
    pickles ``(benchmark folder, class file and hash, parameters)`` plus
    ``self._get_state()`` (benchopt 1.10, ``utils/parametrized_name_mixin.py``;
    ``{}`` by default, with a matching ``__setstate__``). Returning the
    fingerprint from ``_get_state`` is the only way to add it to the key
    without adding a parameter the user would have to set.
    """

    def content_fingerprint(self):
        raise NotImplementedError

    def _get_state(self):
        return {"content_fingerprint": self.content_fingerprint()}

    def __setstate__(self, state):
        # Unpickled in a worker: the fingerprint only served the cache key;
        # the worker reads the files as they are.
        pass
