#!/usr/bin/env bash
# Rebuild the imported face folders of the wild recipe (configs/train/wild-lite0-cpu.yaml) from
# the repositories the model card names, each extracted at its commit:
#   UTKFACE  mattans/AgeProgression@2d937c615a3d:data/UTKFace/unlabeled
#   LFW      warm-ice0x00/face-recognition-training@71399c7e7b1c:lfw
#   ZOYA     zoya2244/AI-Lab-Final-Project-FALL25@6ba4ed681898:dataset   (real/ and ai/)
#   ROF      dinablachman/realorfake@e4a5b79372cf:data/real
# The two lanes run side by side (one core each); an interrupted import resumes.
# Usage: scripts/import_wild_faces.sh UTKFACE LFW ZOYA ROF [DEST=.cache/faces]
set -euo pipefail
utkface=$1 lfw=$2 zoya=$3 rof=$4
root=$(cd "$(dirname "$0")/.." && pwd)
dest=${5:-$root/.cache/faces}
cli=$root/.venv/bin/deepfake-stream
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1

(
  "$cli" data import "$utkface" "$dest/utkface" --source utkface --limit 10000
) &
(
  # FFHQ twice: realorfake's 1024-px reals are zoya's first 600 again; the folder's own hashes
  # skip them. StyleGAN faces are compared against the same FFHQ photos.
  "$cli" data import "$zoya/real" "$dest/ffhq" --source ffhq256
  "$cli" data import "$rof" "$dest/ffhq" --source ffhq1024
  "$cli" data import "$zoya/ai" "$dest/stylegan" --source stylegan256 --label fake \
    --family generated --skip-duplicates-of "$dest/ffhq"
  # Held out of training: where "is an unseen real face called real?" is measured.
  "$cli" data import "$lfw" "$dest/lfw" --source lfw --group-by person --limit 3000
) &
wait
