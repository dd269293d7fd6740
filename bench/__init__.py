"""musl-wheels benchmarks: ``nox -s bench`` (or ``python -m bench``). See bench/README.md."""
