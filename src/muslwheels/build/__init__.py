"""Building targets into verified wheels: a target's lifecycle (``lifecycle``), its build mode
(``modes``), what goes into one build (``inputs``), the two drivers (``scheduler`` for ``invoke build``,
``bake`` for ``invoke bake``), and what happens to the wheels afterwards (``landing``, ``wheelstore``)."""
