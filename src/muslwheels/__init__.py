"""musl-wheels: build Python wheels for musl (Alpine) images on every CPU Docker can emulate."""

__version__ = "0.1.0"
