"""`python -m gsnr_bench.cli`, as `gsnr-bench`."""

from gsnr_bench.cli import main

raise SystemExit(main())
