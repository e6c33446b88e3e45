"""gsnr_bench.training"""
