#!/usr/bin/env bash
# Run the API-drift test and the notebook suite against the NEWEST releases of transformers, peft, trl, accelerate
# and torchao (no constraints.txt; torch stays at 2.13.0), so maintainers see breakage before learners do.
#
#   bash tools/latest_check.sh            # fresh temporary venv, removed afterwards
#   bash tools/latest_check.sh --pre      # also allow pre-releases
#   KEEP_VENV=build/latest/venv bash tools/latest_check.sh   # reuse/keep a venv there
#
# Writes build/latest/versions.txt (what was tested) and build/latest/report.txt; exit code = pytest's.
set -euo pipefail
cd "$(dirname "$0")/.."
PRE=""; [ "${1:-}" = "--pre" ] && PRE="--pre"
TORCH="torch==2.13.0"
LATEST="transformers peft trl accelerate torchao"
out=build/latest; mkdir -p "$out"

venv="${KEEP_VENV:-$(mktemp -d)/venv}"
[ -z "${KEEP_VENV:-}" ] && trap 'rm -rf "$(dirname "$venv")"' EXIT
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
. "$venv/bin/activate"
python -m pip install -q --upgrade pip
echo "$TORCH" > "$out/torch-only.txt"                         # the only pin: never let pip swap torch
python -m pip install -q "$TORCH"
python -m pip install -q -c "$out/torch-only.txt" -e ".[dev,quant]"
python -m pip install -q -c "$out/torch-only.txt" --upgrade $PRE $LATEST
python -m pip freeze | grep -iE "^(torch|transformers|peft|trl|accelerate|torchao|huggingface.hub|tokenizers)==" \
    | tee "$out/versions.txt"
echo "constraints.txt pins:"; grep -iE "^(transformers|peft|trl|accelerate|torchao)==" constraints.txt || true

export QWEN_COURSE_OFFLINE=1 HF_HUB_OFFLINE=1
qwen-course offline build --json > /dev/null
set +e
python -m pytest -q -p no:cacheprovider tests/test_api_drift.py tests/test_notebooks.py tests/test_nb*.py \
    2>&1 | tee "$out/report.txt"
rc=${PIPESTATUS[0]}
set -e
echo "newest releases: $(tr '\n' ' ' < "$out/versions.txt")-> pytest exit $rc (details: $out/report.txt)"
exit "$rc"
