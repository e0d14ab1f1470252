"""lingodesk's reproducible measurements: ``python -m benchmarks SUITE --data ROOT --json OUT``."""
