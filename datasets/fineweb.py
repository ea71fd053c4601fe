from benchmark_utils.data.hub import HubShardDataset


class Dataset(HubShardDataset):
    """FineWeb 10B, GPT-2 tokens (``kjj0/fineweb10B-gpt2``), target 3.28.

    Only the validation shard and the training shards the run's budget needs
    are downloaded, when the objective asks for them; ``benchopt prepare . -d
    fineweb`` (or ``python -m benchmark_tools.download fineweb``) fetches the
    default budget ahead of a run.
    """

    name = "fineweb"
    parameters = {"target": [3.28]}
