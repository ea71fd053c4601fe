#!/usr/bin/env bash
# The GPU self-check: versions, the project's trainer against a bare Track 3
# loop, a smoke check, the auto micro-batch and a validation pass, on one GPU
# in under 8 minutes. See benchmarks/gpu_check.py; --cpu-tiny runs it on CPU.
set -uo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python}" benchmarks/gpu_check.py "$@"
