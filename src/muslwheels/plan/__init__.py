"""From tags to an ordered tuple of targets: tag grammar (``tags``), version rules (``versions``),
base-image resolution (``baseimage``), dependency order (``graph``), the planner (``planner``), and the
plan saved between hook processes (``savedplan``, the one file-writing module here)."""
