"""gsnr_bench.judging"""
