"""Shared helpers of the nanoGPT optimizer benchmark.

benchopt registers only a helper package named ``benchmark_utils``, so every
piece of code shared by the objective, the datasets and the solvers lives here.
"""
