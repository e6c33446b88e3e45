"""One module per stage of a sweep: score, subsets, finetune, heldout, generate, judge. Each function takes the
sweep's `StageDeps` (pipeline/deps.py), addresses its stage by a content hash of its inputs (run/store.py) and hands
its work to `StageRunner.run`, which reads a DONE stage back instead of recomputing it."""
