"""Convolution arithmetic and kernels: numpy only, no TensorFlow (instant to import)."""
