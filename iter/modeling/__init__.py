"""The ITER model: configuration, heads, steps and decoding."""
