"""Prediction on documents and raw text."""
