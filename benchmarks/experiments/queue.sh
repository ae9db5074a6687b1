#!/bin/bash
# Run experiment lines (arguments to arch_search) from a file, one at a time.
# usage: benchmarks/experiments/queue.sh FILE   (each line: --arch ... --tag ...)
cd "$(dirname "$0")/../.." || exit 1
export TOOLKIT_POLARITY_DIR=${TOOLKIT_POLARITY_DIR:-$PWD/../shared/data/review_polarity} PYTHONHASHSEED=0
while IFS= read -r line; do
  [[ -z "$line" || "$line" == \#* ]] && continue
  echo ">>> $line"
  eval .venv/bin/python -m benchmarks.experiments.arch_search "$line" < /dev/null 2>&1 | grep -v -E "^(WARNING|I0000|To enable|note:)"
done < "$1"
