#!/usr/bin/env bash
# What a proxy variant costs beside the stock proxy, measured side by side: the baseline trained at the proxy preset
# as it is and with the variant's overrides, alternating, REPS times each, one torch thread, sequentially (leave the
# other core idle). Prints each training's wall and training seconds, then the variant's mean over the stock's.
#
#   bash benchmarks/proxy_cost.sh "--crop 56 --bf16 auto" [REPS]     # default REPS 2
#
# DATA (default synthetic, the default task) names the data both train on.
set -euo pipefail
overrides=${1:?usage: bash benchmarks/proxy_cost.sh "VARIANT OVERRIDES" [REPS]}
reps=${2:-2}
data=${DATA:-synthetic}
cd "$(dirname "$0")/.."  # the repository root; the project's python first on PATH
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
echo "machine: $cpu; $(nproc) cores; avx512f: $(grep -q avx512f /proc/cpuinfo && echo yes || echo no)"
for rep in $(seq "$reps"); do
  for arm in stock variant; do
    extra=""
    [[ $arm == variant ]] && extra=$overrides
    start=$(date +%s.%N)
    # shellcheck disable=SC2086  # the overrides are several words on purpose
    python -m evaluators.train baseline --data "$data" --fidelity proxy $extra --threads 1 --seed 0 --json \
      | tail -1 > "$work/$arm-$rep.json"
    wall=$(python -c "print(round($(date +%s.%N) - $start, 1))")
    python - "$work/$arm-$rep.json" "$arm" "$rep" "$wall" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]:>7} rep {sys.argv[3]}: wall {sys.argv[4]} s, training {run['seconds']:.1f} s, "
      f"top-1 {run['accuracy']:.2f} %")
PY
  done
done
python - "$work" "$reps" "$overrides" <<'PY'
import json, statistics, sys
work, reps, overrides = sys.argv[1], int(sys.argv[2]), sys.argv[3]
seconds = {arm: [json.load(open(f"{work}/{arm}-{rep}.json"))["seconds"] for rep in range(1, reps + 1)]
           for arm in ("stock", "variant")}
ratios = [v / s for v, s in zip(seconds["variant"], seconds["stock"])]
mean_ratio = statistics.fmean(seconds["variant"]) / statistics.fmean(seconds["stock"])
print(f"variant ({overrides}) / stock proxy, training seconds: {mean_ratio:.2f}x (per pair {min(ratios):.2f}-"
      f"{max(ratios):.2f}x, n = {reps} pair(s))")
PY
