"""Command-line plumbing shared by train.py, evaluate.py and the ``iter`` command."""
