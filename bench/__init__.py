"""Benchmarks of asyncpy against Binaryen's asyncify pass (`python -m bench`)."""
