#!/usr/bin/env bash
# Regenerate the committed demo leaderboard (leaderboard/) from an offline demo run with every shipped
# selector and the two controls (oracle, anti-oracle). The run is cached: a second call only re-publishes, byte-identical.
#   bash scripts/publish-demo-leaderboard.sh [RUN_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-runs/demo-all}
SELECTORS="oracle anti-oracle random longest ifd-superfiltering ifd-cherry gsnr gsnr-alt1 gsnr-alt2 gsnr-alt3 grads"
# shellcheck disable=SC2086
gsnr-bench run --selector $SELECTORS --run-dir "$RUN" --quiet
gsnr-bench leaderboard publish "$RUN" --out leaderboard
