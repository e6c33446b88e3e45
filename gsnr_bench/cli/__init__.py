"""The `gsnr-bench` command line. Parsing imports nothing heavy: `--help` never loads torch. The parser is built in
cli/parser.py from the option groups of cli/options.py; `main` runs a command and turns errors into one line."""

from __future__ import annotations

import sys

from gsnr_bench.cli.parser import STAGES, build_parser

__all__ = ["STAGES", "build_parser", "main"]


def _disk_full(exc: BaseException) -> bool:
    """ENOSPC anywhere in the exception's chain, or in the text libraries wrap it in."""
    import errno

    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            return True
        text = str(exc).lower()
        if "no space left on device" in text or "database or disk is full" in text or "file write failed" in text:
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what the run record logs (main() called in-process too)
    if not args.command:
        parser.print_help()
        return 0
    from gsnr_bench.core.errors import GsnrError
    from gsnr_bench.core.noise import configure_library_output

    configure_library_output(verbose=getattr(args, "verbose", False))
    try:
        from gsnr_bench.commands import dispatch

        return dispatch(args)
    except GsnrError as exc:
        print(f"gsnr-bench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # disk full, permission denied, read-only file system: one line, not a traceback
        where = f": {exc.filename}" if exc.filename else ""
        print(f"gsnr-bench: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except Exception as exc:
        if not _disk_full(exc):
            raise
        # a library's own wrapper of ENOSPC (torch.save, safetensors, sqlite): the stage was left unfinished
        print(
            "gsnr-bench: error: no space left on device (the stage that was writing is left unfinished and is "
            "redone by the next command; free space and run the same command again)",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt as exc:
        # Ctrl-C, or SIGTERM while a vLLM engine is alive (generation/vllm_signals.py turns it into this exception so
        # the engine is shut down on the way out): 128 + the signal, as a shell reports it
        signum = getattr(exc, "signum", 2)
        what = "interrupted" if signum == 2 else f"stopped by signal {signum}"
        print(f"gsnr-bench: {what}; run the same command again to resume where it stopped", file=sys.stderr)
        return 128 + signum
