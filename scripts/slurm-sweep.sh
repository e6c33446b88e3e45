#!/usr/bin/env bash
# Fan a gsnr-bench sweep out over Slurm: one array task per (selector, ratio) cell, all against one --run-dir.
#
#   bash scripts/slurm-sweep.sh CONFIG RUN_DIR            # submit (from the repo root, venv active)
#
#   CONFIG   preset name (paper/alpaca-llama2-7b-lora) or YAML path; RUN_DIR on a filesystem every node sees
#
# Environment (all optional):
#   SELECTORS="gsnr random ifd-superfiltering"  RATIOS="0.05 0.1 0.15"   the sweep grid (cells = product)
#   GPUS=1             GPUs per fine-tune; >1 runs gsnr_bench.commands.launch under `accelerate launch`
#   ACCEL_CONFIG=configs/accelerate/fsdp.yaml   (or configs/accelerate/deepspeed-zero3.yaml), used when GPUS>1
#   EVAL_UPTO=judge    last stage of the eval tasks: judge, or generate when compute nodes cannot reach the judge
#   SBATCH_ARGS="--partition=gpu --time=24:00:00 --account=..."   passed to every sbatch
#   EXTRA_ARGS="--set finetune.micro_batch_size=2"                passed to every gsnr-bench / launch command
#
# Jobs submitted (the run store is content-addressed and file-locked, so jobs share finished stages):
#   base     trains the 100% baseline once (shared by every cell)
#   train    array, one task per cell: score + select (`gsnr-bench select`), then fine-tune the cell's subset
#   eval     array, task i after train task i and after base: `gsnr-bench $EVAL_UPTO` for the cell
#            (baseline answers are generated once, under the store's lock, by whichever task gets there first)
#   report   after every eval task: `gsnr-bench report` over the whole grid
# Inside a job the script is re-entered with GSNR_SWEEP_PHASE set; do not set it yourself.
set -euo pipefail

phase="${GSNR_SWEEP_PHASE:-submit}"
SELECTORS="${SELECTORS:-gsnr}"
RATIOS="${RATIOS:-0.05 0.1 0.15}"
GPUS="${GPUS:-1}"
ACCEL_CONFIG="${ACCEL_CONFIG:-configs/accelerate/fsdp.yaml}"
EVAL_UPTO="${EVAL_UPTO:-judge}"
SBATCH_ARGS="${SBATCH_ARGS:-}"
EXTRA_ARGS="${EXTRA_ARGS:-}"
read -r -a sels <<< "$SELECTORS"
read -r -a rats <<< "$RATIOS"
read -r -a extra <<< "$EXTRA_ARGS"
ncells=$(( ${#sels[@]} * ${#rats[@]} ))

if [[ "$phase" == submit ]]; then
  if [[ $# -ne 2 ]]; then
    sed -n '2,10p' "$0" >&2
    exit 2
  fi
  export GSNR_SWEEP_CONFIG="$1" GSNR_SWEEP_RUN_DIR GSNR_SWEEP_REPO
  GSNR_SWEEP_RUN_DIR="$(realpath -m "$2")"
  GSNR_SWEEP_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  export SELECTORS RATIOS GPUS ACCEL_CONFIG EVAL_UPTO EXTRA_ARGS
  script="$GSNR_SWEEP_REPO/scripts/slurm-sweep.sh"
  read -r -a sb <<< "$SBATCH_ARGS"
  common=(--parsable --export=ALL --chdir="$GSNR_SWEEP_REPO" "${sb[@]}")
  gpu=(--gpus-per-node="$GPUS")
  # logs go to a dot-dir: the run store refuses a non-empty RUN_DIR without its marker, dot entries aside
  mkdir -p "$GSNR_SWEEP_RUN_DIR/.slurm"
  log="$GSNR_SWEEP_RUN_DIR/.slurm/%x-%A_%a.out"
  base=$(GSNR_SWEEP_PHASE=base sbatch "${common[@]}" "${gpu[@]}" --job-name=gsnr-base --output="$log" "$script")
  train=$(GSNR_SWEEP_PHASE=train sbatch "${common[@]}" "${gpu[@]}" --job-name=gsnr-train \
            --array="0-$((ncells - 1))" --output="$log" "$script")
  eval_=$(GSNR_SWEEP_PHASE=eval sbatch "${common[@]}" "${gpu[@]}" --job-name=gsnr-eval \
            --array="0-$((ncells - 1))" --dependency="afterok:${base%%;*},aftercorr:${train%%;*}" \
            --output="$log" "$script")
  report=$(GSNR_SWEEP_PHASE=report sbatch "${common[@]}" --job-name=gsnr-report \
            --dependency="afterok:${eval_%%;*}" --output="$log" "$script")
  echo "run dir $GSNR_SWEEP_RUN_DIR ($ncells cells, logs in .slurm/): base=$base train=$train eval=$eval_ report=$report"
  exit 0
fi

cd "$GSNR_SWEEP_REPO"
config=(--config "$GSNR_SWEEP_CONFIG" --run-dir "$GSNR_SWEEP_RUN_DIR")

# Fine-tune one model (row of scripts/cell-paths.py: system, subset or -, model dir) unless it is trained.
# flock takes the same lock file the pipeline takes for that stage, so two jobs never train one model.
train_model() {
  local name="$1" subset="$2" out="$3" sub=()
  [[ "$subset" != "-" ]] && sub=(--subset "$subset")
  mkdir -p "$out"
  local launch=(python -m gsnr_bench.commands.launch)
  if (( GPUS > 1 )); then
    launch=(accelerate launch --config_file "$ACCEL_CONFIG" --num_processes "$GPUS"
            -m gsnr_bench.commands.launch)
  fi
  echo "[$(date -Is)] fine-tune $name -> $out"
  flock "$out/.lock" bash -c '[[ -f "$1/trained.json" && -d "$1/model" ]] && exit 0; shift; exec "$@"' _ \
    "$out" "${launch[@]}" --config "$GSNR_SWEEP_CONFIG" "${extra[@]}" "${sub[@]}" --out "$out"
}

case "$phase" in
  base)
    IFS=$'\t' read -r name subset out < <(python scripts/cell-paths.py "${config[@]}" "${extra[@]}" --baseline)
    train_model "$name" "$subset" "$out"
    ;;
  train|eval)
    i="${SLURM_ARRAY_TASK_ID:?not inside a Slurm array task}"
    sel="${sels[$(( i / ${#rats[@]} ))]}" ratio="${rats[$(( i % ${#rats[@]} ))]}"
    cell=(--selector "$sel" --ratio "$ratio")
    echo "[$(date -Is)] cell $i: selector=$sel ratio=$ratio phase=$phase"
    if [[ "$phase" == train ]]; then
      gsnr-bench select "${config[@]}" "${cell[@]}" "${extra[@]}" --quiet
      python scripts/cell-paths.py "${config[@]}" "${cell[@]}" "${extra[@]}" | tail -n +2 |
        while IFS=$'\t' read -r name subset out; do train_model "$name" "$subset" "$out"; done
    else
      gsnr-bench "$EVAL_UPTO" "${config[@]}" "${cell[@]}" "${extra[@]}" --quiet
    fi
    ;;
  report)
    gsnr-bench report "${config[@]}" --selector "${sels[@]}" --ratio "${rats[@]}" "${extra[@]}" --quiet
    ;;
  *)
    echo "slurm-sweep.sh: unknown GSNR_SWEEP_PHASE=$phase" >&2
    exit 2
    ;;
esac
