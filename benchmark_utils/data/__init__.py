"""The benchmark's data: token shards, the sources datasets hand to the
objective, and the batch loader with one module per data order."""
