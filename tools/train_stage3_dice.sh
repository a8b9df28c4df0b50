#!/usr/bin/env bash
# The stage-3 experiment of session 3 (docs/default_model.md, "Stage 3: soft Dice"):
# the stage-2 generator run continued with a soft-Dice term on its semantic mask,
# then encoders fine-tuned from the shipped ones with Dice terms on their
# reconstructed masks. Its weights were measured and NOT shipped (geometry got
# worse); they land in runs/, never in ide3d_backend/weights/.
# Needs the stage-2 run folder of tools/train_default_model.sh (runs/generator at
# step G2_RECON). Resumes like every stage: rerun after an interruption.
set -euo pipefail
cd "$(dirname "$0")/.."
IDE3D=${IDE3D:-.venv/bin/ide3d}
PY=${PY:-.venv/bin/python}
G3_STEPS=${G3_STEPS:-1300}
E3_STEPS=${E3_STEPS:-800}
THREADS=${THREADS:-2}
DATA=data/synth_train

$IDE3D train generator --data $DATA --out runs/generator --preset tiny --phase both \
  --set recon_steps="$G3_STEPS" --set recon.semantic_dice=1 --steps "$G3_STEPS" --resume --threads "$THREADS"
$IDE3D train export runs/generator --out runs/generator/stage3.safetensors --half

$IDE3D train encoders --generator runs/generator/stage3.safetensors --data $DATA \
  --latents runs/generator/latents.safetensors --set real_batch=4 --init ide3d_backend/weights/encoders.safetensors \
  --set weights.mask_dice=1 --set weights.can_mask_dice=1 --set weights.real_mask_dice=1 \
  --out runs/encoders-3 --preset tiny --steps "$E3_STEPS" --resume --threads "$THREADS"
$PY tools/halve_checkpoint.py runs/encoders-3/encoders.safetensors runs/encoders-3/export.safetensors

$PY bench/quality.py --heads 16 --samples 64 --mesh-resolution 96 \
  --generator runs/generator/stage3.safetensors --encoders runs/encoders-3/export.safetensors --name quality_stage3
$PY bench/train_fit.py --generator runs/generator/stage3.safetensors --latents runs/generator/latents.safetensors \
  --name train_fit_stage3
