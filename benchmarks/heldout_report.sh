#!/usr/bin/env bash
# Point 7's report on the held-out reference: evaluators.fidelity's own report on the journal, the noise ceiling
# through both fidelities' seed noise (heldout_ceiling.py), then every proxy
# variant's committed runs judged against the same held-out figures. Trains nothing when the variant journals are
# complete (20 genomes x 2 seeds each); on a journal with fewer genomes it reports on those it holds. The fidelity
# report's CSV (genome id, block strings, MACs, both fidelities' figures, seconds) is written beside the journal.
#
#   bash benchmarks/heldout_report.sh [JOURNAL] > report.log    # default benchmarks/fidelity-heldout/runs.jsonl
set -euo pipefail
journal=$(realpath "${1:-benchmarks/fidelity-heldout/runs.jsonl}")
here=$(dirname "$(realpath "$0")")
held_out=synthetic:seed=1,train=1,val=1000
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cp "$journal" "$work/runs.jsonl"
echo "== evaluators.fidelity --from-journal on $journal"
python -m evaluators.fidelity --from-journal --genomes 20 --genome-seeds 2 --baseline-seeds 2 --held-out "$held_out" \
    --out "$work"
cp "$work/fidelity.csv" "$(dirname "$journal")/fidelity.csv"
echo
echo "== heldout_ceiling.py: the noise ceiling, with the baseline's five held-out reference seeds (reference-noise/)"
python "$here/heldout_ceiling.py" "$journal"

variant() {  # a committed variant folder, then proxy_variant.py's options for it
    local folder=$1; shift
    mkdir -p "$work/$folder" && cp "$here/$folder/runs.jsonl" "$work/$folder/"
    echo
    echo "== $folder: proxy_variant.py $*"
    python "$here/proxy_variant.py" "$work/$folder" "$@" --seeds 2 --reference-runs "$journal"
    # The stock proxy's ceiling is printed above, from the study's own journal.
    [[ $folder == proxy-seeds ]] || python "$here/heldout_ceiling.py" "$journal" --proxy-runs "$here/$folder/runs.jsonl" | tail -n 4
}
variant proxy-seeds
variant proxy-h0.1 --head-lr-factor 0.1
variant proxy-c32-e2 --crop 32 --epochs 2
variant proxy-c32-h0.1 --crop 32 --head-lr-factor 0.1
variant proxy-c56-bf16 --crop 56 --bf16 auto
variant proxy-bn1000 --bn-recalibration-images 1000
