"""Download and check the HellaSwag validation file that runs with
``hellaswag`` enabled read: ``python -m benchmark_tools.hellaswag_fetch``.

The download is atomic (a temporary file in the same folder, renamed once
complete and valid: an interrupted download never leaves a partial file
under the real name) and validated like a run reads it; a download that
fails the check is deleted and tried once more. Offline
(``HF_HUB_OFFLINE=1`` or no network) the error names the missing file, where
to put it, and where to get it.
"""

import argparse
import os
import sys
import urllib.request
from pathlib import Path

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
            while chunk := response.read(1 << 20):
                f.write(chunk)


def ensure_hellaswag(local_dir=None, url=URL, expected=N_VAL_EXAMPLES, log=None):
    """``(path, examples)`` of a validated local copy of the validation file,
    downloading it if it is missing or invalid. A download that fails the
    check is deleted and tried once more (:class:`HellaSwagFileError` if the
    second one fails too); without network, :class:`MissingDataError`."""
    log = log or (lambda message: print(message, file=sys.stderr))
    local_dir = Path(hellaswag_dir() if local_dir is None else local_dir)
    path = local_dir / FILENAME
    try:
        return path, read_examples(path, expected)
    except HellaSwagFileError as error:
        state = "missing"
        if path.exists():
            state = f"invalid ({error.problem})"
            log(f"hellaswag: {path} is {state}; downloading it again")

    def cannot_download(reason):
        return missing_error(
            path, reason, f"{state} and cannot be downloaded ({reason})"
        )

    if offline():
        raise cannot_download("HF_HUB_OFFLINE is set")
    local_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{FILENAME}.{os.getpid()}.part")
    for attempt in (1, 2):
        log(f"hellaswag: downloading {url}")
        try:
            download_url(url, tmp)
            examples = read_examples(tmp, expected)
        except HellaSwagFileError as error:
            tmp.unlink(missing_ok=True)
            if attempt == 2:
                raise HellaSwagFileError(
                    path,
                    f"downloaded twice from {url} and invalid both times "
                    f"({error.problem})",
                ) from error
            log(f"hellaswag: the download is invalid ({error.problem}); again")
            continue
        except BaseException as error:  # leave no partial file behind
            tmp.unlink(missing_ok=True)
            if isinstance(error, Exception):  # network, HTTP, disk
                raise cannot_download(f"{type(error).__name__}: {error}") from error
            raise  # interrupted
        os.replace(tmp, path)
        return path, examples


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmark_tools.hellaswag_fetch",
        description=f"Download and check the HellaSwag validation file ({URL}).",
    )
    parser.add_argument(
        "--local-dir",
        type=Path,
        default=None,
        help="folder to keep it in (default: the benchmark's data folder "
        "for hellaswag, $NANOGPT_BENCH_DATA/hellaswag when set)",
    )
    args = parser.parse_args(argv)
    local_dir = args.local_dir
    if local_dir is None:
        from benchmark_tools.download import benchmark_data_dir

        local_dir = benchmark_data_dir("hellaswag")
    try:
        path, examples = ensure_hellaswag(local_dir, expected=N_VAL_EXAMPLES)
    except (MissingDataError, HellaSwagFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{path}: {len(examples):,} examples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
