from benchmark_utils.data.hub import HubShardDataset


class Dataset(HubShardDataset):
    """FineWeb-Edu 10B, GPT-2 tokens (``kjj0/finewebedu10B-gpt2``): the data
    of the GPT-2-on-FineWeb-Edu recipes (build-nanogpt, llm.c).

    Same budget-aware, lazy download as ``fineweb``: the validation shard
    ``finewebedu_val_000000.bin`` and only the training shards
    (``finewebedu_train_000001..000099.bin``, 100M tokens each) that
    max_steps x batch_tokens needs.

    ``target``: no target loss is standard for FineWeb-Edu, so the default is
    None: a run trains for the whole step budget (``max_steps``) and solvers
    are compared on their validation-loss curves. Set one to race to it, e.g.
    ``-d "fineweb_edu[target=3.3]"`` (the objective's own ``target``
    parameter, when set, takes precedence).
    """

    name = "fineweb_edu"
    parameters = {"target": [None]}
