#!/usr/bin/env bash
# Every figure issue #20 ships a face model on, for one candidate weights manifest:
# calibration (videos, then photos), eval on media-beyond-dfdc, on ../shared/media and on the
# held-out DFDC groups, and the shortcut audit. The calibrations and the audit write into the
# candidate's manifest. Run from anywhere; about 25 min on 2 cores.
# Usage: scripts/evaluate_face_candidate.sh MANIFEST OUTDIR [TRAIN_CONFIG]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
manifest=$(realpath "$1")   # relative paths: to the working directory
out=$(mkdir -p "$2" && realpath "$2")
recipe=$(cd "$root" && realpath "${3:-configs/train/wild-lite0-cpu.yaml}")
shared=$root/../shared
faces=$root/.cache/faces
cli=$root/.venv/bin/deepfake-stream
export OMP_WAIT_POLICY=PASSIVE
cd "$root"   # the recipes name their folders relative to the repository

config=$out/service.yaml
sed "s#^\(  weights: \)[^ ]*#\1$manifest#" configs/default.yaml > "$config"
grep -q "weights: $manifest" "$config"

"$cli" calibrate "$shared/media-beyond-dfdc" --config "$config" \
  --reals "$faces/lfw" "$shared/media" --write | tee "$out/calibrate-videos.txt"
"$cli" calibrate "$faces/stylegan" --validation-of "$recipe" --config "$config" \
  --reals "$faces/lfw" --write | tee "$out/calibrate-photos.txt"
"$cli" eval "$shared/media-beyond-dfdc" --config "$config" --output "$out/beyond" \
  | tee "$out/eval-beyond.txt"
"$cli" eval "$shared/media" --config "$config" --output "$out/media" | tee "$out/eval-media.txt"
"$cli" eval "$shared/data/dfdc-faces" --validation-of configs/train/dfdc-lite0-gpu.yaml \
  --config "$config" --output "$out/dfdc" | tee "$out/eval-dfdc.txt"
"$cli" eval "$faces/lfw" --config "$config" --output "$out/lfw" | tee "$out/eval-lfw.txt"
.venv/bin/python scripts/shortcut_audit.py --config "$config" --per-cell 1000 \
  --json "$out/audit.json" --write \
  "$shared/data/dfdc-faces@$recipe" "$faces/utkface@$recipe" "$faces/ffhq@$recipe" \
  "$faces/stylegan@$recipe" "$faces/lfw" "$shared/data/genfaces" | tee "$out/audit.md"
