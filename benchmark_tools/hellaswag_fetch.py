"""Download and check the HellaSwag validation file that runs with
``hellaswag`` enabled read: ``python -m benchmark_tools.hellaswag_fetch``.

The file is downloaded under a temporary name and renamed once it passes the
checks a run applies, so an interrupted download leaves no partial file; a
download that fails them is deleted and tried once more. Offline
(``HF_HUB_OFFLINE=1`` or no network) the error names the missing file, where
to put it and where to get it.
"""

import argparse
import os
import shutil
import sys
import urllib.request
from pathlib import Path

from benchmark_tools.download import benchmark_data_dir
from benchmark_utils.data.hub import MissingDataError, offline
from benchmark_utils.hellaswag import (
    FILENAME,
    N_VAL_EXAMPLES,
    URL,
    HellaSwagFileError,
    hellaswag_dir,
    missing_error,
    read_examples,
)


def download_url(url, path, timeout=60):
    """Write the body of ``url`` to ``path`` (the network boundary)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        with open(path, "wb") as f:
            shutil.copyfileobj(response, f)


def ensure_hellaswag(local_dir=None, url=URL, expected=N_VAL_EXAMPLES, log=None):
    """``(path, examples)`` of a validated local copy of the validation file,
    downloaded if it is missing or invalid (:class:`HellaSwagFileError` if
    two downloads are invalid; without network, :class:`MissingDataError`)."""
    log = log or (lambda message: print(message, file=sys.stderr))
    path = Path(hellaswag_dir() if local_dir is None else local_dir) / FILENAME
    try:
        return path, read_examples(path, expected)
    except HellaSwagFileError as error:
        state = f"invalid ({error.problem})" if path.exists() else "missing"
    if path.exists():
        log(f"hellaswag: {path} is {state}; downloading it again")

    def cannot_download(reason):
        return missing_error(
            path, reason, f"{state} and cannot be downloaded ({reason})"
        )

    if offline():
        raise cannot_download("HF_HUB_OFFLINE is set")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{FILENAME}.{os.getpid()}.part")
    try:
        for attempt in (1, 2):
            log(f"hellaswag: downloading {url}")
            try:
                download_url(url, tmp)
                examples = read_examples(tmp, expected)
            except HellaSwagFileError as error:
                invalid = error.problem
                if attempt == 1:
                    log(f"hellaswag: the download is invalid ({invalid}); again")
                continue
            except Exception as error:  # network, HTTP, disk
                raise cannot_download(f"{type(error).__name__}: {error}") from error
            os.replace(tmp, path)
            return path, examples
    finally:  # leaves no partial file, even when interrupted
        tmp.unlink(missing_ok=True)
    raise HellaSwagFileError(
        path, f"downloaded twice from {url} and invalid both times ({invalid})"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmark_tools.hellaswag_fetch",
        description=f"Download and check the HellaSwag validation file ({URL}).",
    )
    parser.add_argument(
        "--local-dir",
        type=Path,
        help="folder to keep it in (default: the benchmark's data folder "
        "for hellaswag, $NANOGPT_BENCH_DATA/hellaswag when set)",
    )
    args = parser.parse_args(argv)
    local_dir = args.local_dir or benchmark_data_dir("hellaswag")
    try:
        path, examples = ensure_hellaswag(local_dir, expected=N_VAL_EXAMPLES)
    except (MissingDataError, HellaSwagFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{path}: {len(examples):,} examples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
