"""The providers, by name: the one place that knows them (``--provider``, ``rehearse clusters``).

Each provider is a folder with the same inner files (kind's ``pkg/cluster/internal/providers`` is the model):
``provider.py`` the class, ``prepare.py`` what a version needs present, ``provision.py`` creation as ordered
actions, ``node.py`` its nodes, ``upgrade.py`` the control plane, then the nodes. :mod:`.base` holds the interface
and what they share.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.errors import InfraError
from harness.progress import Progress
from harness.providers.base import Provider
from harness.providers.kind import KindProvider, NoKindImage, select_images
from harness.providers.local import LocalProvider
from harness.versions import Version

_PROVIDERS = (KindProvider, LocalProvider)


def names() -> tuple[str, ...]:
    """The providers ``--provider`` can name (besides ``auto``)."""
    return tuple(p.name for p in _PROVIDERS)


def choose(requested: str, versions: Sequence[Version], progress: Progress, *,
           preload: Sequence[str] = (), node_count: int | None = None) -> tuple[Provider, str | None]:
    """The provider for ``--provider REQUESTED`` (``auto``, ``kind`` or ``local``) for a rehearsal visiting
    ``versions``; the second item is why ``auto`` fell back to local (None otherwise).

    ``auto`` is kind when it can run at once: a Docker engine answers, the kind CLI can be had and the node images
    are already in the engine (never an implicit multi-gigabyte pull; ``kind`` pulls them). ``kind`` without a kind
    release covering ``versions`` is an :class:`~harness.errors.InputError`, before anything starts; ``kind``
    where it cannot run is an :class:`~harness.errors.InfraError`.
    """
    if requested == "local":
        return LocalProvider(progress=progress), None
    if requested == "kind":
        select_images(versions)  # no kind release with images for every version: an input error, before anything
    kind = KindProvider(progress=progress, versions=versions, preload=preload, node_count=node_count)
    if requested == "kind":
        ok, why = kind.available()
        if not ok:
            raise InfraError(f"the kind provider cannot run here: {why}")
        return kind, None
    try:
        select_images(versions)
        ok, why = kind.available()
        if ok:
            missing = kind.missing_images()
            if not missing:
                return kind, None
            why = (f"node image{'s' if len(missing) > 1 else ''} {', '.join(missing)} not in the Docker engine "
                   "(pull them, or pass --provider kind to pull them)")
    except NoKindImage as e:
        why = str(e)
    return LocalProvider(progress=progress), why


def every(progress: Progress) -> dict[str, Provider]:
    """One of each provider, by name (``rehearse clusters list`` and ``delete``)."""
    return {p.name: p(progress=progress) for p in _PROVIDERS}
