"""gsnr_bench.reporting"""
