"""Scripted latency benchmarks: `georoute bench run/report/compare` and `georoute crossover`.

Pure parts (`report`, `compare`, `crossover`) compute from rows and models; shells
(`runner`, `live`, `render`, `plot`, `cli`) do the I/O. Nothing is imported here so
`georoute --help` stays fast.
"""
