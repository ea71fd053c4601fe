"""The benchmark's data: token shards (:mod:`.shards`), the sources that
datasets hand to the objective (:mod:`.sources`, :mod:`.markov`,
:mod:`.hub`), and the batch loader (:mod:`.loader`) with one module per data
order (:mod:`.track3`, :mod:`.contiguous`, :mod:`.bos_aligned`)."""
