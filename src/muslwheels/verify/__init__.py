"""Reading a wheel and checking it against its target, without running it: opening it (``wheelfile``),
what it holds (``wheelinfo``), whether its name fits the target (``fit``). Running a wheel on its own
platform is the test step (``muslwheels.wheeltest``), never called "verify"."""
