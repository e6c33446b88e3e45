"""Config of the Slurm launcher (`gsnr-bench launch --slurm`): what each job of a sweep asks the cluster for.

    slurm:
      partition: gpu            # defaults for every stage; a stage's own value wins
      account: my-lab
      time: "24:00:00"
      finetune: {gpus: 8, time: "48:00:00", mem: 512G}
      judge: {partition: cpu}   # judging calls remote endpoints: it never asks for a GPU

Resources never change a result, so this section is no part of any stage's key."""

from __future__ import annotations

from pydantic import Field, field_validator

from gsnr_bench.core.settings_base import Section

SLURM_STAGES = ("score", "finetune", "generate", "judge", "report")


class SlurmStage(Section):
    partition: str | None = None
    account: str | None = None
    time: str | None = None  # sbatch --time, e.g. "24:00:00" or "2-00:00:00"
    gpus: int = Field(0, ge=0)  # per node (sbatch --gpus-per-node); 0 asks for none
    cpus: int = Field(1, gt=0)  # sbatch --cpus-per-task
    mem: str | None = None  # sbatch --mem, e.g. "64G"
    extra: list[str] = []  # further sbatch options, passed as given (e.g. ["--qos=high"])


class JudgeStage(SlurmStage):
    @field_validator("gpus")
    @classmethod
    def _no_gpu(cls, v: int) -> int:
        if v:
            raise ValueError("judging sends requests to judge endpoints and never uses a GPU; leave gpus at 0")
        return v


class SlurmConfig(Section):
    partition: str | None = None
    account: str | None = None
    time: str | None = None
    # a fine-tune job with finetune.gpus > 1 runs one process per GPU under `accelerate launch` with this file:
    # a shipped one (accelerate/fsdp, accelerate/deepspeed-zero3 under configs/) or a path
    accelerate_config: str = "accelerate/fsdp"
    score: SlurmStage = SlurmStage(gpus=1)
    finetune: SlurmStage = SlurmStage(gpus=1)
    generate: SlurmStage = SlurmStage(gpus=1)
    judge: JudgeStage = JudgeStage()
    report: SlurmStage = SlurmStage()

    def stage(self, name: str) -> SlurmStage:
        """A stage's resources with the section's defaults filled in."""
        s = getattr(self, name)
        return s.model_copy(update={k: getattr(s, k) or getattr(self, k) for k in ("partition", "account", "time")})
