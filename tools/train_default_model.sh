#!/usr/bin/env bash
# Reproduces the shipped default model (ide3d_backend/weights/*.safetensors) on a
# 2-core CPU. Every step resumes: rerun the script after an interruption and it
# continues from the latest snapshots. Step counts are environment variables so a
# longer (or shorter) run is one variable away; the values used for the shipped
# weights and their wall times are in docs/default_model.md.
set -euo pipefail
cd "$(dirname "$0")/.."
IDE3D=${IDE3D:-.venv/bin/ide3d}
G_STEPS=${G_STEPS:-1500}
E_STEPS=${E_STEPS:-700}
P_STEPS=${P_STEPS:-600}
THREADS=${THREADS:-2}
W=ide3d_backend/weights

[ -f data/synth_train/dataset.json ] || \
  $IDE3D data synth --count 480 --views 4 --resolution 128 --seed 0 --out data/synth_train

$IDE3D train generator --data data/synth_train --out runs/generator --preset tiny \
  --phase both --steps "$G_STEPS" --resume --threads "$THREADS"
$IDE3D train export runs/generator --out $W/generator.safetensors --half

$IDE3D train encoders --generator $W/generator.safetensors --data data/synth_train \
  --out runs/encoders --preset tiny --steps "$E_STEPS" --resume --threads "$THREADS"
.venv/bin/python tools/halve_checkpoint.py runs/encoders/encoders.safetensors $W/encoders.safetensors

$IDE3D train parser --data data/synth_train \
  --out runs/parser --preset tiny --steps "$P_STEPS" --resume --threads "$THREADS"
.venv/bin/python tools/halve_checkpoint.py runs/parser/parser.safetensors $W/parser.safetensors
