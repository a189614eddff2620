"""Reading, validating, encoding and batching documents."""
