from benchmark_utils.data.hub import HubShardDataset


class Dataset(HubShardDataset):
    """FineWeb-Edu 10B, GPT-2 tokens (``kjj0/finewebedu10B-gpt2``), the data
    of the GPT-2-on-FineWeb-Edu recipes (build-nanogpt, llm.c), downloaded as
    ``fineweb`` is. No target loss is standard for it: by default a run
    trains for its whole budget; set one with ``-d "fineweb_edu[target=3.3]"``.
    """

    name = "fineweb_edu"
    parameters = {"target": [None]}
