#!/bin/bash
# Side by side, sequential, one torch thread, the other core idle: the 24 px proxy and the 32 px variant on the baseline.
cd "$(dirname "$0")/../.."  # the repository root; the project's python first on PATH
for rep in 1 2; do
  for crop in 24 32; do
    s=$(date +%s.%N)
    python -m evaluators.train baseline --fidelity proxy --crop $crop --threads 1 --seed 0 --json | tail -1 > /tmp/c${crop}-r${rep}.json
    e=$(date +%s.%N)
    echo "crop $crop rep $rep wall $(echo "$e - $s" | bc) s $(python -c "import json;d=json.load(open('/tmp/c${crop}-r${rep}.json'));print('top1',d['accuracy'],'train seconds',round(d['seconds'],1))")"
  done
done
