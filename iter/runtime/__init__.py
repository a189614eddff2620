"""Where and how computation runs (device, precision, distributed ranks): helpers that the
evaluation, training and command layers share, below all of them."""
