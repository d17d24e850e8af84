#!/usr/bin/env bash
# The committed fidelity run (benchmarks/README.md): 20 genomes, proxy on CPU (one torch thread per training,
# as a search trial), reference on one GPU. Run from the repository root; writes into ${OUT:-results}/fidelity.
# Optional: WHEELS=folder of wheels to install first (a machine without the project's venv, e.g. timm, plotly).
set -u
OUT=${OUT:-results}
mkdir -p "$OUT/fidelity"
export PYTHONUNBUFFERED=1 EFFCNN_CACHE=${EFFCNN_CACHE:-/tmp/effcnn-cache} PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if [ -n "${WHEELS:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "$WHEELS"/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PYTHONPATH
fi
python3 -c "import torch, timm, plotly, scipy; print('torch', torch.__version__, 'timm', timm.__version__, 'gpu', torch.cuda.get_device_name() if torch.cuda.is_available() else None)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $(nproc) cores, avx512f: $(grep -c -m1 avx512f /proc/cpuinfo)"
# Extra arguments go to evaluators.fidelity (a tiny local check: --proxy smoke --reference smoke --data ...).
ARGS=(--genomes "${GENOMES:-20}" --out "$OUT/fidelity" --reference-device "${REFERENCE_DEVICE:-cuda}" "$@")
# Cut at TIME_LIMIT seconds so that a slow machine still reports on the genomes it finished: every finished
# training is already in runs.jsonl, and --from-journal reports on those.
timeout -k 10 "${TIME_LIMIT:-360}" python3 -m evaluators.fidelity "${ARGS[@]}" --jobs "${JOBS:-8}" \
  --reference-jobs "${REFERENCE_JOBS:-7}" > "$OUT/fidelity/fidelity.log" 2>&1
status=$?
echo "fidelity exit status: $status"
if [ "$status" -eq 0 ]; then
  grep -v '^\[' "$OUT/fidelity/fidelity.log"
else
  tail -n 8 "$OUT/fidelity/fidelity.log"
  python3 -m evaluators.fidelity "${ARGS[@]}" --from-journal
fi
