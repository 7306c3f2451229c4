"""georoute: geographic inference routing and latency benchmarks."""

__version__ = "0.1.0"
