from gsnr_bench.cli import main

if __name__ == "__main__":  # vLLM starts its engine processes with spawn, which may re-import the main module
    raise SystemExit(main())
