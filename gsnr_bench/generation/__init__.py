"""gsnr_bench.generation"""
