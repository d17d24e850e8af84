#!/usr/bin/env bash
# One device-tool call: the reference half of the committed fidelity run (benchmarks/README.md). The proxy half
# ran on a CPU machine (`evaluators.fidelity --only proxy`) into the committed journal $JOURNAL, with any
# reference trainings a CPU finished: it is appended to $OUT/runs.jsonl first (a training is keyed by genome,
# preset, data and seed, the last record of a key wins), so the GPU trains only what is missing, and the merged
# journal is reported on at the end (--from-journal). LATENCY=1 first times the GPU's inference latency of the
# three baseline block types, while the GPU is still quiet. Arguments go to both fidelity calls: give only those
# that name the run (--genomes, --seed, --data, --train-seed, --proxy, --reference), never --out, --only or
# --from-journal. Worst case in seconds: 3 x LATENCY_LIMIT (with LATENCY=1) + CHECK_LIMIT + 2 x STEP_LIMIT +
# TIME_LIMIT + REPORT_LIMIT, plus each timeout's kill grace; the script refuses to start when that exceeds
# CALL_LIMIT (the device's 600 s per call). Run from the repository root.
set -u
OUT=${OUT:-results}
LATENCY_LIMIT=${LATENCY_LIMIT:-60} CHECK_LIMIT=${CHECK_LIMIT:-90} STEP_LIMIT=${STEP_LIMIT:-75}
TIME_LIMIT=${TIME_LIMIT:-240} REPORT_LIMIT=${REPORT_LIMIT:-60}
for limit in LATENCY_LIMIT CHECK_LIMIT STEP_LIMIT TIME_LIMIT REPORT_LIMIT CALL_LIMIT; do
  value=${!limit:-600}
  if ! [[ $value =~ ^[1-9][0-9]*$ ]]; then
    echo "error: $limit must be a whole number of seconds, got '$value'"
    exit 2
  fi
done
WORST=$(( $([ "${LATENCY:-0}" = 1 ] && echo 3 || echo 0) * (LATENCY_LIMIT + 5) \
          + $([ "${GRAPHS:-1}" = 1 ] && echo 1 || echo 0) * (CHECK_LIMIT + 5 + 2 * (STEP_LIMIT + 5)) \
          + TIME_LIMIT + 10 + REPORT_LIMIT + 5 ))
if [ "$WORST" -gt "${CALL_LIMIT:-600}" ]; then
  echo "error: worst case ${WORST}s exceeds CALL_LIMIT=${CALL_LIMIT:-600}s; lower TIME_LIMIT or the other limits"
  exit 2
fi
echo "worst case ${WORST}s of ${CALL_LIMIT:-600}s"
JOURNAL=${JOURNAL:-benchmarks/fidelity-1205/runs.jsonl}
mkdir -p "$OUT"
if [ -f "$JOURNAL" ]; then
  cat "$JOURNAL" >> "$OUT/runs.jsonl"
  echo "journal: $(wc -l < "$OUT/runs.jsonl") trainings in $OUT/runs.jsonl after appending $JOURNAL"
else
  echo "warning: no $JOURNAL: the report will lack the proxy half unless $OUT/runs.jsonl holds it"
fi
export PYTHONUNBUFFERED=1 EFFCNN_CACHE=${EFFCNN_CACHE:-/tmp/effcnn-cache} PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
python3 -c "import torch, timm; print('torch', torch.__version__, 'timm', timm.__version__, 'gpu', torch.cuda.get_device_name() if torch.cuda.is_available() else None)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $(nproc) cores"
for block in $([ "${LATENCY:-0}" = 1 ] && echo standard se condconv); do
  timeout -k 5 "$LATENCY_LIMIT" python3 -m evaluators.latency baseline --block "$block" \
    --device "${REFERENCE_DEVICE:-cuda}" --json > "$OUT/latency-$block.log" 2>&1
  echo "latency $block: exit $?, $(tail -c 400 "$OUT/latency-$block.log" | tail -n 1 | cut -c1-300)"
done
# CUDA graphs (GRAPHS=1, the default): first the captured step against the eager one (tests/test_graphed.py's
# CUDA tests, where pytest is installed), then one epoch of the baseline at the reference both ways, for the
# ratio of their step rates; a failed check turns the graphs off for the fidelity run.
GRAPH_FLAG=()
if [ "${GRAPHS:-1}" = 1 ]; then
  GRAPH_FLAG=(--reference-graphs)
  if python3 -c "import pytest" 2>/dev/null; then
    timeout -k 5 "$CHECK_LIMIT" python3 -m pytest -q -p no:cacheprovider -o addopts="" tests/test_graphed.py \
      > "$OUT/graphs-check.log" 2>&1 || GRAPH_FLAG=()
    echo "graphs check: $(tail -n 1 "$OUT/graphs-check.log")"
  fi
  for way in eager graphs; do
    timeout -k 5 "$STEP_LIMIT" python3 -m evaluators.train baseline --fidelity reference --epochs 1 \
      --device "${REFERENCE_DEVICE:-cuda}" $([ "$way" = graphs ] && echo --graphs) --json > "$OUT/epoch-$way.log" 2>&1
    echo "one reference epoch, $way: exit $?, $(grep -m1 'img/s' "$OUT/epoch-$way.log")"
  done
fi
echo "fidelity run with: ${GRAPH_FLAG[*]:-no graphs}"
# Cut at TIME_LIMIT seconds: every finished training is already in runs.jsonl.
timeout -k 10 "$TIME_LIMIT" python3 -m evaluators.fidelity --only reference --genomes "${GENOMES:-20}" \
  --out "$OUT" --reference-device "${REFERENCE_DEVICE:-cuda}" --reference-jobs "${REFERENCE_JOBS:-4}" --jobs 1 \
  "${GRAPH_FLAG[@]}" "$@" > "$OUT/reference.log" 2>&1
echo "fidelity exit status: $?"
tail -n 5 "$OUT/reference.log"
timeout -k 5 "$REPORT_LIMIT" python3 -m evaluators.fidelity --from-journal --genomes "${GENOMES:-20}" \
  --out "$OUT" "$@" > "$OUT/report.log" 2>&1
tail -n 32 "$OUT/report.log"
