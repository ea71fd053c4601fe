from benchmark_utils.data.hub import HubShardDataset


class Dataset(HubShardDataset):
    """FineWeb 10B, GPT-2 tokens (``kjj0/fineweb10B-gpt2``), target 3.28.

    Downloads the validation shard and only the training shards that the
    run's budget (max_steps x batch_tokens) needs, when the objective asks for
    them; files already present are used without network. ``benchopt prepare
    . -d fineweb`` (or ``python -m benchmark_tools.download fineweb``) fetches
    the default budget ahead of a run.
    """

    name = "fineweb"
    parameters = {"target": [3.28]}
