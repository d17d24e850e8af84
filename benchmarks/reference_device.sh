#!/usr/bin/env bash
# One device-tool call: the reference half of the committed fidelity run (benchmarks/README.md), the GPU's
# inference latency of the three baseline block types first, while the GPU is still quiet. The proxy half runs
# on a CPU machine (`evaluators.fidelity --only proxy`); the two journals are merged and reported there with
# --from-journal. Run from the repository root; writes into ${OUT:-results}.
set -u
OUT=${OUT:-results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 EFFCNN_CACHE=${EFFCNN_CACHE:-/tmp/effcnn-cache} PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
python3 -c "import torch, timm; print('torch', torch.__version__, 'timm', timm.__version__, 'gpu', torch.cuda.get_device_name() if torch.cuda.is_available() else None)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $(nproc) cores"
for block in standard se condconv; do
  timeout -k 5 "${LATENCY_LIMIT:-60}" python3 -m evaluators.latency baseline --block "$block" \
    --device "${REFERENCE_DEVICE:-cuda}" --json > "$OUT/latency-$block.log" 2>&1
  echo "latency $block: exit $?, $(tail -c 400 "$OUT/latency-$block.log" | tail -n 1 | cut -c1-300)"
done
# Cut at TIME_LIMIT seconds: every finished training is already in runs.jsonl.
timeout -k 10 "${TIME_LIMIT:-480}" python3 -m evaluators.fidelity --only reference --genomes "${GENOMES:-20}" \
  --out "$OUT" --reference-device "${REFERENCE_DEVICE:-cuda}" --reference-jobs "${REFERENCE_JOBS:-11}" --jobs 1 \
  "$@" > "$OUT/reference.log" 2>&1
echo "fidelity exit status: $?"
tail -n 30 "$OUT/reference.log"
