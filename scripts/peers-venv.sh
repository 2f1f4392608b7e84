#!/usr/bin/env bash
# Creates .venv-peers: Evidently and NannyML (the drift peers) kept out of Vigil's own venv because
# they pin pandas<3 and pull scikit-learn, plotly and statsmodels. Used by tests/test_evidently*.py
# and bench/drift.py through subprocesses; both skip cleanly when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${PEERS_VENV:-.venv-peers}"
STAMP="$VENV/.installed-peers"
# statsmodels: NannyML 0.13.1 imports it without declaring it.
REQS=("evidently==0.7.*" "nannyml==0.13.*" "statsmodels" "pandas<3" "pyarrow" "scikit-learn" "psutil")
if [[ -f "$STAMP" ]]; then exit 0; fi
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "${REQS[@]}"
touch "$STAMP"
