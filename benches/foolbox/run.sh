#!/usr/bin/env bash
# axdnn vs Foolbox 3.3.4 + JAX (CPU) on the same model, images and cores: FGSM, FGM, Linf/L2 BIM
# and Linf/L2 PGD (Foolbox default parameters) on LeNet-5/MNIST and AlexNet/CIFAR-10. Each pair
# runs both sides once, one after the other (the order swaps every pair so drift in machine load
# does not favour one side); the summary prints images/s per side (median over pairs) and the
# median of the per-pair ratios axdnn/Foolbox.
#
#   bash benches/foolbox/run.sh                 # from anywhere; ~600 MB pip install the first time
#   PAIRS=5 N=300 MODELS=lenet5-mnist bash benches/foolbox/run.sh
#
# axdnn side: examples/attack_speed (times attack::run only). Foolbox side: foolbox_speed.py
# (times the attack call after an untimed warm-up call that jit-compiles). Both use all cores.
# Data: $AXDNN_DATA, else ../shared/data beside the repository. Raw lines: $OUT (jsonl).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"
PAIRS="${PAIRS:-3}"
N="${N:-300}"
MODELS="${MODELS:-lenet5-mnist alexnet-cifar10}"
ATTACKS="${ATTACKS:-fgsm,fgm,linf-bim,l2-bim,linf-pgd,l2-pgd}"
OUT="${OUT:-$repo/target/foolbox-bench/results.jsonl}"
# One budget per norm (pixel units): MNIST as in tests/fixtures/foolbox/lenet5_mnist.json,
# CIFAR-10 the usual 8/255 and 0.5.
eps_for() {
  case "$1" in
    *mnist*) echo "0.1 1.0" ;;
    *) echo "0.031372549 0.5" ;;
  esac
}

venv="$(bash "$repo/tests/fixtures/foolbox/install_foolbox.sh")"
cargo build --release --quiet --example attack_speed
bin="$repo/target/release/examples/attack_speed"
mkdir -p "$(dirname "$OUT")"
: >"$OUT"
for model in $MODELS; do
  read -r linf l2 < <(eps_for "$model")
  inputs="$(dirname "$OUT")/$model-inputs"
  "$bin" --model "models/$model" --n "$N" --dump "$inputs"
  axdnn() { "$bin" --model "models/$model" --n "$N" --attacks "$ATTACKS" --linf-eps "$linf" --l2-eps "$l2"; }
  foolbox() { PYTHONPATH="$venv" python3 "$here/foolbox_speed.py" --model "models/$model" --inputs "$inputs" --attacks "$ATTACKS" --linf-eps "$linf" --l2-eps "$l2"; }
  for p in $(seq 1 "$PAIRS"); do
    tag() { sed "s/^{/{\"model\": \"$model\", \"pair\": $p, /"; }
    if (( p % 2 )); then sides="axdnn foolbox"; else sides="foolbox axdnn"; fi
    for side in $sides; do
      echo "$model pair $p/$PAIRS: $side" >&2
      "$side" | tag | tee -a "$OUT" >&2
    done
  done
done
python3 "$here/summary.py" "$OUT"
