"""The command layer: what each CLI command does. Imported only after argument parsing succeeded, except
flags.py (the flag -> config key table), which the parser reads for its help.

Layers (docs/ARCHITECTURE.md): cli -> commands -> pipeline -> stage packages (selection, training,
generation, judging, reporting, data) -> core helpers. Nothing imports a layer above its own."""

from __future__ import annotations

import argparse


def dispatch(args: argparse.Namespace) -> int:
    if args.command == "ls":
        from gsnr_bench.commands.ls import cmd_ls

        return cmd_ls(args)
    if args.command == "models":
        from gsnr_bench.commands.models import cmd_models

        return cmd_models(args)
    if args.command == "plant-defects":
        from gsnr_bench.commands.defects import cmd_plant_defects

        return cmd_plant_defects(args)
    if args.command == "serve-judge":
        from gsnr_bench.commands.serve import cmd_serve_judge

        return cmd_serve_judge(args)
    if args.command == "leaderboard":
        from gsnr_bench.commands.report import cmd_publish

        return cmd_publish(args)
    if args.command == "report":
        from gsnr_bench.commands.report import cmd_report

        return cmd_report(args)
    if args.command == "export":
        from gsnr_bench.commands.export import cmd_export

        return cmd_export(args)
    if args.command == "import-human":
        from gsnr_bench.commands.imports import cmd_import_human

        return cmd_import_human(args)
    if args.command == "import-judgments":
        from gsnr_bench.commands.imports import cmd_import_judgments

        return cmd_import_judgments(args)
    if args.command == "launch":
        from gsnr_bench.commands.slurm import cmd_launch

        return cmd_launch(args)
    from gsnr_bench.commands.runs import cmd_pipeline

    return cmd_pipeline(args)
