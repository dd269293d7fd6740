"""The planner: parsed tag requests + configuration + facts -> an ordered tuple of build targets.

Pure: the package index and the base-image registry arrive as ``ProjectLookup`` / ``ImageLookup``
objects, so unit tests hand in plain fakes and the CLI hands in the HTTP clients.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from ..config.arches import Arch
from ..config.model import (
    Config,
    Flavour,
    ImageLookup,
    ModuleConfig,
    Project,
    ProjectLookup,
    Recipe,
    Target,
    remembered,
)
from ..config.model import normalize_name as _norm
from ..config.modules import default_ssl, recipe_for
from ..errors import ResolutionError, TagError
from .baseimage import (
    arches_for,
    newest_python,
    parse_pythons_specifier,
    python_versions_for,
    render_base_image,
    split_image_ref,
)
from .tags import TagRequest
from .versions import (
    find_version,
    is_yanked,
    newest_version,
    python_allowed,
    requires_python_of,
)


@dataclass(frozen=True)
class PlanOptions:
    flavour: Flavour = Flavour.SHARED
    base_image: str | None = None  # overrides [defaults] base_image for this run
    repository: str | None = None  # overrides the flavour's repository for this run


@dataclass(frozen=True)
class Plan:
    targets: tuple[Target, ...]  # dependencies before dependents; requested order otherwise
    requested: tuple[str, ...]  # ids of the targets the user asked for (not pulled in as deps)
    notes: tuple[str, ...] = ()  # things the user should know (not errors)
    # (extra dependency target id, tag of the target whose runtime closure needs it)
    extra_for: tuple[tuple[str, str], ...] = ()


def with_extras(plan: Plan, recorded: Mapping[str, Sequence[tuple[str, str]]]) -> Plan:
    """``plan`` with the extra dependency targets its targets' closures are known to need:
    ``recorded`` maps a target id to the (project, version) pairs recorded beside its tested
    wheel. Each extra comes once, after the targets (built first when built, listed last)."""
    by_id = {t.id: t for t in plan.targets}
    extras: list[Target] = []
    extra_for: dict[str, str] = dict(plan.extra_for)
    for target in plan.targets:
        for name, version in recorded.get(target.id, ()):
            extra = extra_target(target, name, version)
            if extra.id in by_id:
                continue
            by_id[extra.id] = extra
            extras.append(extra)
            extra_for[extra.id] = target.tag
    return replace(plan, targets=(*plan.targets, *extras), extra_for=tuple(extra_for.items()))


@dataclass(frozen=True)
class _Cell:
    """Where a target stands in the build matrix (its module aside), and the tag that asked for
    it (``raw``, for messages); a module's dependencies share its cell but for their SSL."""

    python: str
    arch: Arch
    ssl: str | None
    image: str
    raw: str


class _Planner:
    def __init__(
        self, config: Config, projects: ProjectLookup, images: ImageLookup, options: PlanOptions
    ) -> None:
        self.config = config
        self.projects = remembered(projects)
        self.images = images
        self.options = options
        self.template = options.base_image or config.defaults.base_image
        self.notes: list[str] = []
        self._pythons: dict[str, str | None] | None = None
        self._pythons_asked = False
        self._platforms: dict[str, tuple[str, ...] | None] = {}
        self._newest: dict[tuple[str, str], str] = {}
        self._digests: dict[str, tuple[tuple[str, str], ...]] = {}
        self.targets: dict[str, Target] = {}

    # -- facts, each asked at most once per run ---------------------------------------------------

    def project(self, name: str, raw: str) -> Project:
        found = self.projects.project(name)
        if found is None:
            raise TagError(
                f"{raw}: module {name!r} is not on the package index",
                hint="check the spelling, or the index pip is configured for (PIP_INDEX_URL)",
            )
        return found

    def published_pythons(self, *, required: bool) -> dict[str, str | None] | None:
        """Python X.Y -> Alpine release for the base-image template; None if the registry is
        unreachable and nothing needs it (every part of the tag was given)."""
        if not self._pythons_asked:
            repository, _ = split_image_ref(self.template)
            try:
                tags = self.images.tags(repository)
            except ResolutionError as err:
                if required:
                    raise
                self.notes.append(f"base images not verified: {err}")
            else:
                self._pythons = python_versions_for(
                    self.template, tags, min_alpine=self.config.defaults.alpine
                )
            self._pythons_asked = True
        if self._pythons is None and required:
            # asked before without need, failed then; ask again so the error reaches the user
            self._pythons_asked = False
            return self.published_pythons(required=True)
        return self._pythons

    def platforms(self, image: str, *, required: bool) -> tuple[str, ...] | None:
        if image not in self._platforms:
            try:
                self._platforms[image] = self.images.platforms(image)
            except ResolutionError as err:
                if required:
                    raise
                self.notes.append(f"platforms of {image} not verified: {err}")
                return None
        return self._platforms[image]

    def digests(self, image: str) -> tuple[tuple[str, str], ...]:
        """(platform, manifest digest) of ``image``, asked once; () when the registry cannot
        say (offline without a cached answer, an image only in the local store): the build then
        uses the tag."""
        if image not in self._digests:
            found: tuple[tuple[str, str], ...] | None = None
            if image not in self._platforms:  # the registry could not be asked a moment ago
                self.notes.append(
                    f"{image} used by its tag, not by digest: the registry could not be asked"
                )
                self._digests[image] = ()
                return ()
            try:
                found = self.images.digests(image)
            except ResolutionError as err:
                self.notes.append(f"{image} used by its tag, not by digest: {err}")
                found = None
            else:
                if found is None:
                    self.notes.append(
                        f"{image} used by its tag, not by digest: the registry has no such tag"
                    )
            self._digests[image] = found or ()
        return self._digests[image]

    # -- rules --------------------------------------------------------------------------------------

    def pythons_for(
        self, req: TagRequest, module: ModuleConfig | None
    ) -> tuple[tuple[str, str], ...]:
        """(python, base image) pairs for a request."""
        allowed = parse_pythons_specifier(module.pythons if module else None)
        min_alpine = self.config.defaults.alpine
        fully_given = (req.python is not None or req.all_pythons) and req.arch is not None
        published = self.published_pythons(required=not fully_given)
        if req.all_pythons:
            wanted: tuple[str | None, ...] = tuple(
                p
                for p in self.config.defaults.pythons
                if allowed is None or allowed.contains(p, prereleases=True)
            )
            if not wanted:
                raise TagError(
                    f"{req.raw}: none of the default Pythons ({', '.join(self.config.defaults.pythons)}) "
                    f"is allowed by the module's pythons = {str(allowed)!r}",
                    hint="ask for a Python explicitly, or change pythons in modules.toml",
                )
        else:
            wanted = (req.python,)
        pairs: list[tuple[str, str]] = []
        for asked in wanted:
            if published is None:
                # Registry unreachable, but the user named the Python and the arch.
                assert asked is not None
                python = newest_python([asked], allowed=allowed, requested=asked)
                image = render_base_image(self.template, python, min_alpine)
            else:
                python = newest_python(
                    published,
                    allowed=allowed,
                    requested=asked,
                    template=self.template,
                    min_alpine=min_alpine,
                )
                image = render_base_image(self.template, python, published[python])
            pairs.append((python, image))
        return tuple(pairs)

    def arches_for(
        self, req: TagRequest, module: ModuleConfig | None, image: str
    ) -> tuple[Arch, ...]:
        excluded = module.exclude_arches if module else ()
        platforms = self.platforms(image, required=req.arch is None)
        if req.arch is not None:
            if platforms is None:
                # registry unreachable: check the exclusion at least
                return arches_for(
                    (req.arch.platform,), wanted=(req.arch.key,), excluded=excluded, image=image
                )
            return arches_for(platforms, wanted=(req.arch.key,), excluded=excluded, image=image)
        if platforms is None:
            raise ResolutionError(
                f"{req.raw}: base image {image} does not exist",
                hint="check base_image / alpine in modules.toml or --base-image",
            )
        published = arches_for(platforms, wanted=(), excluded=excluded, image=image)
        limit = self.config.defaults.arches
        chosen = tuple(a for a in published if not limit or a.key in limit)
        if not chosen:
            raise ResolutionError(
                f"{req.raw}: {image} is published for {', '.join(a.key for a in published)}, "
                f"none of which is in [defaults] arches",
                hint="name an arch in the tag, or add it to arches in modules.toml",
            )
        return chosen

    def ssl_for(self, wanted: str | None, module: ModuleConfig | None, raw: str) -> str | None:
        if module is None or not module.ssl_variants:
            if wanted is not None:
                raise TagError(
                    f"{raw}: the module has no SSL variants, so -{wanted} does not apply",
                    hint="leave out the SSL suffix, or add ssl_variants to the module in modules.toml",
                )
            return None
        if wanted is None:
            return default_ssl(module, self.config.defaults)
        if wanted not in module.ssl_variants:
            raise TagError(
                f"{raw}: {wanted} is not an SSL variant of {module.name}",
                hint=f"its variants: {', '.join(module.ssl_variants)}",
            )
        return wanted

    def newest(self, project: Project, python: str, raw: str) -> str:
        """The release pip on Python ``python`` would pick (its Requires-Python admits it);
        decided once per project and Python (a matrix asks for it once per arch and dependent)."""
        key = (_norm(project.name), python)
        if key not in self._newest:
            self._newest[key] = self._decide_newest(project, python, raw)
        return self._newest[key]

    def _decide_newest(self, project: Project, python: str, raw: str) -> str:
        version = newest_version(project, python=python)
        overall = newest_version(project)
        if version is None:
            if overall is not None and not python_allowed(project, overall, python):
                raise TagError(
                    f"{raw}: no release of {project.name} supports Python {python}; the newest, "
                    f"{overall}, requires Python {requires_python_of(project, overall)}",
                    hint="ask for a newer Python in the tag",
                )
            raise TagError(
                f"{raw}: {project.name} has no release that pip would install",
                hint="name a version in the tag (pre-releases and yanked ones are skipped)",
            )
        if (
            overall is not None
            and overall != version
            and not python_allowed(project, overall, python)
        ):
            self.notes.append(
                f"{project.name} {version} for Python {python}: the newest release, {overall}, "
                f"requires Python {requires_python_of(project, overall)}"
            )
        return version

    def repository(self, flavour: Flavour) -> str | None:
        if self.options.repository:
            return self.options.repository
        d = self.config.defaults
        return d.repository if flavour is Flavour.SHARED else d.no_shared_repository

    # -- targets ------------------------------------------------------------------------------------

    def add(self, name: str, version: str | None, cell: _Cell) -> Target:
        """The target of module ``name`` (its newest release for the cell's Python when
        ``version`` is None) in ``cell``, after the targets of its dependencies."""
        module = self.config.module(name)
        project = self.project(name, cell.raw)
        python, arch, ssl, image = cell.python, cell.arch, cell.ssl, cell.image
        if version is None:
            version = self.newest(project, python, cell.raw)
        else:
            found = find_version(project, version)
            if found is None:
                raise TagError(f"{cell.raw}: {project.name} has no version {version} on the index")
            version = found
            if not python_allowed(project, version, python):
                supported = newest_version(project, python=python)
                raise TagError(
                    f"{cell.raw}: {project.name} {version} requires Python "
                    f"{requires_python_of(project, version)}, not {python}",
                    hint=(
                        f"{project.name} {supported} is the newest release that supports "
                        f"Python {python}: name that version in the tag, or ask for a newer Python"
                        if supported is not None
                        else f"no release of {project.name} supports Python {python}: "
                        "ask for a newer Python in the tag"
                    ),
                )
            if is_yanked(project, version):
                self.notes.append(f"{project.name} {version} is yanked on the index")
        depends: list[str] = []
        if module is not None:
            # Direct dependencies only: each one's own come in through its recursion, and each is
            # inserted before its dependent, so the targets stay in build order.
            for dep_name in module.depends:
                dep_cfg = self.config.module(dep_name)
                assert dep_cfg is not None  # config/modules.py rejects unknown dependencies
                dep_ssl = (
                    ssl
                    if ssl in dep_cfg.ssl_variants
                    else default_ssl(dep_cfg, self.config.defaults)
                )
                dep = self.add(dep_cfg.name, None, replace(cell, ssl=dep_ssl))
                if dep.id not in depends:
                    depends.append(dep.id)
        flavour = self.options.flavour
        recipe = (
            recipe_for(module, arch=arch.key, python=python, ssl=ssl, flavour=flavour)
            if module is not None
            else Recipe()
        )
        target = Target(
            module=project.name,
            version=version,
            python=python,
            arch=arch,
            ssl=ssl,
            flavour=flavour,
            base_image=image,
            repository=self.repository(flavour),
            recipe=recipe,
            depends=tuple(depends),
            base_digests=self.digests(image),
        )
        return self.targets.setdefault(target.id, target)

    def plan(self, requests: Sequence[TagRequest]) -> Plan:
        requested: list[str] = []
        for req in requests:
            module = self.config.module(req.module)
            ssl = self.ssl_for(req.ssl, module, req.raw)
            for python, image in self.pythons_for(req, module):
                for arch in self.arches_for(req, module, image):
                    target = self.add(
                        req.module, req.version, _Cell(python, arch, ssl, image, req.raw)
                    )
                    if target.id not in requested:
                        requested.append(target.id)
        return Plan(
            tuple(self.targets.values()), tuple(requested), tuple(dict.fromkeys(self.notes))
        )


def extra_target(of: Target, module: str, version: str) -> Target:
    """The extra dependency target that builds ``module`` ``version`` (a runtime requirement of
    ``of`` that the index has only as an sdist, never a modules.toml module): the same Python,
    arch, flavour, base image and repository as ``of``, the default recipe (as for any tag whose
    project is not in modules.toml), no SSL variant, no build dependencies."""
    return replace(of, module=module, version=version, ssl=None, recipe=Recipe(), depends=())


def make_plan(
    requests: Sequence[TagRequest],
    *,
    config: Config,
    projects: ProjectLookup,
    images: ImageLookup,
    options: PlanOptions,
) -> Plan:
    """Every target the requests ask for, with their dependencies, dependencies first."""
    return _Planner(config, projects, images, options).plan(requests)
