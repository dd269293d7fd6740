"""Targets as JSON, and the saved plan file that carries a plan from one hook process to the next.

Docker Hub runs post_checkout, pre_build, build and push as separate processes. ``post-checkout``
writes the resolved plan together with the inputs it was made from; the later phases read it back only
when their own inputs are the same, so a stale plan from an earlier run is never used.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..config.arches import lookup_arch
from ..config.imageref import DIGEST
from ..config.model import RECIPE_FIELDS, Flavour, Mode, Recipe, Shape, Target
from ..errors import UsageError
from ..sources.jsonfile import write_json_atomic

# 2: every recipe field (1 dropped test, test_requires, no_test); 3: the base image's digests
PLAN_FILE_VERSION = 3


def target_to_dict(target: Target) -> dict[str, Any]:
    """The JSON shape of a target (also what ``invoke plan --json`` prints, one per line)."""
    return {
        "id": target.id,
        "module": target.module,
        "version": target.version,
        "python": target.python,
        "arch": target.arch.key,
        "platform": target.platform,
        "ssl": target.ssl,
        "flavour": target.flavour.value,
        "base_image": target.base_image,
        # what the build and test use: the base image's manifest for this platform, by digest
        # (the tag when the registry gave none)
        "base_image_pinned": target.pinned_base_image,
        "base_digests": dict(target.base_digests),
        "repository": target.repository,
        "image": target.image if target.repository is not None else None,
        "tag": target.tag,
        "multiarch_tag": target.version_tag,
        "wheel_dir": f"wheels/{target.wheel_dir}",
        "depends": list(target.depends),
        "recipe": recipe_to_dict(target.recipe),
    }


def target_from_dict(data: Mapping[str, Any]) -> Target:
    arch = lookup_arch(str(data["arch"]))
    if arch is None:
        raise ValueError(f"unknown arch {data['arch']!r}")
    return Target(
        module=str(data["module"]),
        version=str(data["version"]),
        python=str(data["python"]),
        arch=arch,
        ssl=data["ssl"],
        flavour=Flavour(data["flavour"]),
        base_image=str(data["base_image"]),
        repository=None if data["repository"] is None else str(data["repository"]),
        recipe=recipe_from_dict(data["recipe"]),
        depends=tuple(data["depends"]),
        base_digests=_digests(data["base_digests"]),
    )


def _digests(data: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(data, dict) or not all(
        isinstance(d, str) and DIGEST.fullmatch(d) for d in data.values()
    ):
        raise ValueError(f"base_digests is not an object of digests: {data!r:.80}")
    return tuple((str(p), d) for p, d in data.items())


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    """Every recipe field, in the JSON shape its :class:`~muslwheels.config.model.Check` gives it."""
    return {f.name: _to_json(f.check.shape, getattr(recipe, f.name)) for f in RECIPE_FIELDS}


def recipe_from_dict(data: Mapping[str, Any]) -> Recipe:
    """The inverse of :func:`recipe_to_dict`; a missing field is a KeyError (a damaged plan)."""
    return Recipe(**{f.name: _from_json(f.check.shape, data[f.name]) for f in RECIPE_FIELDS})


def _to_json(shape: Shape, value: Any) -> Any:
    if shape is Shape.STRINGS:
        return list(value)
    if shape is Shape.PAIRS:
        return dict(value)
    if shape is Shape.MODE:
        return value.value if value else None
    return value


def _from_json(shape: Shape, value: Any) -> Any:
    if shape is Shape.STRINGS:
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {value!r}")
        return tuple(str(v) for v in value)
    if shape is Shape.PAIRS:
        return tuple((str(k), str(v)) for k, v in value.items())
    if shape is Shape.MODE:
        return Mode(value) if value else None
    return None if value is None else str(value)


def inputs_digest(inputs: Mapping[str, Any]) -> str:
    """A stable digest of what a plan was made from (tags, options, modules.toml content...)."""
    blob = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def save_plan(
    path: Path, inputs: Mapping[str, Any], targets: Sequence[Target], requested: Sequence[str]
) -> None:
    """Write the saved plan atomically: a reader sees the old file or the new one, never half of one."""
    payload = {
        "version": PLAN_FILE_VERSION,
        "inputs": dict(inputs),
        "digest": inputs_digest(inputs),
        "requested": list(requested),
        "targets": [target_to_dict(t) for t in targets],
    }
    try:
        write_json_atomic(path, payload, indent=1)
    except OSError as err:
        raise _unusable(path, err) from None


def discard_plan(path: Path) -> None:
    """Remove the saved plan, first thing in ``post-checkout``: a run that fails later must not
    leave an older plan standing for the later phases. UsageError when it cannot be removed."""
    try:
        path.unlink(missing_ok=True)
    except OSError as err:
        raise _unusable(path, err) from None


def _unusable(path: Path, err: OSError) -> UsageError:
    return UsageError(
        f"cannot use the saved plan {path}: {err.strerror or err}",
        hint=f"make {path.parent} a writable folder with no {path.name} in it but a file",
    )


def load_plan(
    path: Path, inputs: Mapping[str, Any]
) -> tuple[tuple[Target, ...], tuple[str, ...]] | None:
    """The saved targets if the saved plan exists and was made from the same inputs, else None.

    A plan made from other inputs is deleted (it can only mislead). A corrupt one is an error
    that says which file to remove.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as err:
        raise _unusable(path, err) from None
    try:
        payload = json.loads(text)
        if payload.get("version") != PLAN_FILE_VERSION or payload.get("digest") != inputs_digest(
            inputs
        ):
            discard_plan(path)
            return None
        targets = tuple(target_from_dict(t) for t in payload["targets"])
        requested = tuple(str(i) for i in payload["requested"])
    except (ValueError, KeyError, TypeError) as err:
        raise UsageError(
            f"the saved plan {path} is damaged ({err})",
            hint=f"delete {path} and run `invoke post-checkout` again",
        ) from None
    return targets, requested
