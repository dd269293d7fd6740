"""musl-wheels tasks. Run `invoke --list` for the list and `invoke --help TASK` for a task's flags.

The tasks and their flags are declared once, in muslwheels.program (the `musl-wheels` console
script serves the same ones); this file only gives invoke this checkout's project folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "src"))

from muslwheels.program import make_namespace

ROOT = Path(__file__).resolve().parent

ns = make_namespace(lambda: ROOT)
# each task by its Python name as well (`tasks.plan`...), for tools that read this file's attributes
globals().update({task.body.__name__: task for task in ns.tasks.values()})
