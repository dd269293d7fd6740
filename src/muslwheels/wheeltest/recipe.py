"""The test recipe of a target: the command the test container runs (the module's ``test`` or an
import of what the wheel holds) and the files that carry it. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from ..build.inputs import command_values
from ..config.model import Target
from ..config.modules import render_command
from ..errors import BuildError
from ..verify.wheelinfo import WheelContents
from .owners import RuntimePackages

#: Where the closure is inside the test container ({wheel_dir} and {deps_dir} of a ``test`` command).
CONTAINER_CLOSURE_DIR = "/mw/closure"


def wheel_test_command(target: Target, contents: WheelContents) -> str:
    """The module's ``test`` (placeholders filled in), or the default: import every top-level and
    extension module the wheel holds (a ``.so`` exporting no ``PyInit_<name>`` is a library, not
    one: ``wheelinfo.read_wheel``). BuildError when the command cannot be filled in safely."""
    recipe = target.recipe
    if recipe.test is not None:
        values = {
            **command_values(target),
            "wheel_dir": CONTAINER_CLOSURE_DIR,
            "deps_dir": CONTAINER_CLOSURE_DIR,
        }
        try:
            return render_command(recipe.test, values)
        except ValueError as err:
            raise BuildError(f"{target.tag}: cannot fill in the test command: {err}") from None
    names = tuple(dict.fromkeys((*contents.top_level, *contents.extensions)))
    if not names:
        return "true"
    # module names are identifiers joined by dots (wheelinfo.importable_modules): safe to quote so
    listed = ", ".join(f"'{name}'" for name in names)
    return (
        'python -c "import importlib; '
        f"[print('imported', importlib.import_module(m).__name__) for m in ({listed},)]\""
    )


def wheel_test_files(
    target: Target, contents: WheelContents, packages: RuntimePackages
) -> dict[str, str]:
    """The files of the ``testrecipe`` build context. Pure."""

    def text(lines: Sequence[str]) -> str:
        return "".join(f"{line}\n" for line in lines)

    return {
        "requirement": f"{contents.name}=={contents.version}\n",
        "test.sh": text([wheel_test_command(target, contents)]),
        "test_requires": text(target.recipe.test_requires),
        "needed": text(contents.needed_from_outside()),
        "runtime.apk": text(packages.apk),
        "runtime.apt": text(packages.apt),
        "packages.apk": text(target.recipe.apk),
        "packages.apt": text(target.recipe.apt),
    }


def describe_test(target: Target, contents: WheelContents) -> str:
    if target.recipe.test is not None:
        return f"tested: {target.recipe.test}"
    names = tuple(dict.fromkeys((*contents.top_level, *contents.extensions)))
    return (
        "tested: import " + ", ".join(names) if names else "tested: installed (nothing to import)"
    )
