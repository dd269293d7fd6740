"""``python -m muslwheels``: the ``musl-wheels`` console script."""

from .program import main

main()
