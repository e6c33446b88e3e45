#!/usr/bin/env bash
# Fan a gsnr-bench sweep out over Slurm: a thin wrapper around `gsnr-bench launch --slurm` (gsnr_bench/commands/slurm.py).
#
#   bash scripts/slurm-sweep.sh CONFIG RUN_DIR [more gsnr-bench launch flags]
#
#   CONFIG   preset name (paper/alpaca-llama2-7b-lora) or YAML path; RUN_DIR on a filesystem every node sees
#   e.g.     bash scripts/slurm-sweep.sh paper/alpaca-llama2-7b-full /shared/runs/a7b-full \
#              --selector gsnr random --judge gpt --set slurm.partition=gpu --set slurm.finetune.gpus=8
#
# The whole configuration is validated before the first sbatch; GPUs, partitions, accounts and time limits per
# stage come from the config's `slurm:` section (docs/gpu.md, section 5); submitting again after a failed or
# cancelled job submits only what is left. Logs: RUN_DIR/slurm/logs/.
set -euo pipefail
if [[ $# -lt 2 ]]; then
  sed -n '2,10p' "$0" >&2
  exit 2
fi
config="$1" run_dir="$2"
shift 2
exec gsnr-bench launch --slurm --config "$config" --run-dir "$run_dir" "$@"
