"""gsnr_bench.data"""
