"""Benchmarks: `python -m bench` measures the server and the CLI against floors and peers."""
