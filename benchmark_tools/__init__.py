"""Command-line tools of the benchmark: they import the run path (benchmark_utils), never the reverse."""  # noqa: E501
