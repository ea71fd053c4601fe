from benchopt import BaseDataset

from benchmark_utils.paths import data_dir
from benchmark_utils.sources import MarkovSource


class Dataset(BaseDataset):
    """Synthetic Markov-chain language with an exactly known loss floor.

    Written as real shards (so the real loader is exercised) into a cache
    folder keyed by the parameters. The default target is the floor plus
    ``target_margin`` nats, which the CPU demo's tiny model reaches.
    """

    name = "simulated"
    parameters = {
        "vocab_size": [128],
        "n_successors": [4],
        "concentration": [1.0],
        "seed": [0],
        "target_margin": [0.1],
    }
    test_parameters = {"vocab_size": [64]}

    def get_data(self):
        source = MarkovSource(
            data_dir("simulated"),
            vocab_size=self.vocab_size,
            n_successors=self.n_successors,
            concentration=self.concentration,
            seed=self.seed,
            target_margin=self.target_margin,
        )
        return dict(source=source)
