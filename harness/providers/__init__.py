"""The providers, by name: the one place that knows them (``--provider``, ``rehearse clusters``).

Each provider is a folder with the same inner files (kind's ``pkg/cluster/internal/providers`` is the model):
``provider.py`` the class, ``prepare.py`` what a version needs present, ``provision.py`` creation as ordered
actions, ``node.py`` its nodes, ``upgrade.py`` the control plane, then the nodes. :mod:`.base` holds the interface
and what they share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Choice:
    """Which provider ``--provider REQUESTED`` runs for a rehearsal, and why: decided without creating a cluster or
    pulling an image (``rehearse doctor`` shows it, :func:`choose` acts on it)."""

    requested: str
    name: str  # the provider that runs: "kind" or "local"
    ready: bool  # False only for an explicit kind that cannot run here (``reason`` says why)
    reason: str | None  # why auto fell back to local, or why an explicit kind cannot run; None otherwise
    kind_release: str | None = None  # the kind release for the versions (None: local asked for, or none covers)
    node_images: tuple[str, ...] = ()  # the kind node images of the versions (kind release known)
    missing_images: tuple[str, ...] = ()  # those not in the engine (known only where kind can run)


def decide(requested: str, versions: Sequence[Version], *, kind: KindProvider | None = None) -> Choice:
    """The provider ``requested`` (``auto``, ``kind`` or ``local``) means for a rehearsal visiting ``versions``.

    ``auto`` is kind when it can run at once: a Docker engine answers, the kind CLI can be had and the node images
    are already in the engine (never an implicit multi-gigabyte pull; ``kind`` pulls them). ``kind`` without a kind
    release covering ``versions`` raises :class:`NoKindImage` (an input error). Only the engine is asked (a ping,
    image look-ups); nothing is created. ``kind``: the provider to ask (default: a new one for ``versions``).
    """
    if requested == "local":
        return Choice(requested, "local", True, None)
    kind = kind or KindProvider(versions=versions)
    try:
        select_images(versions)
    except NoKindImage as e:
        if requested == "kind":
            raise
        return Choice(requested, "local", True, str(e))
    release = kind.release
    images = tuple(sorted({kind.image_for(v) for v in versions}))
    ok, why = kind.available()
    if not ok:
        if requested == "kind":
            return Choice(requested, "kind", False, why, release, images)
        return Choice(requested, "local", True, why, release, images)
    missing = tuple(kind.missing_images())
    if requested == "kind" or not missing:
        return Choice(requested, "kind", True, None, release, images, missing)
    why = (f"node image{'s' if len(missing) > 1 else ''} {', '.join(missing)} not in the Docker engine "
           "(pull them, or pass --provider kind to pull them)")
    return Choice(requested, "local", True, why, release, images, missing)


def choose(requested: str, versions: Sequence[Version], progress: Progress, *,
           preload: Sequence[str] = (), node_count: int | None = None) -> tuple[Provider, str | None]:
    """The provider for ``--provider REQUESTED`` for a rehearsal visiting ``versions`` (see :func:`decide`); the
    second item is why ``auto`` fell back to local (None otherwise).

    ``kind`` without a kind release covering ``versions`` is an :class:`~harness.errors.InputError`, before anything
    starts; ``kind`` where it cannot run is an :class:`~harness.errors.InfraError`.
    """
    if requested == "local":
        return LocalProvider(progress=progress), None
    kind = KindProvider(progress=progress, versions=versions, preload=preload, node_count=node_count)
    choice = decide(requested, versions, kind=kind)
    if not choice.ready:
        raise InfraError(f"the kind provider cannot run here: {choice.reason}")
    if choice.name == "kind":
        return kind, None
    return LocalProvider(progress=progress), choice.reason


def every(progress: Progress) -> dict[str, Provider]:
    """One of each provider, by name (``rehearse clusters list`` and ``delete``)."""
    return {p.name: p(progress=progress) for p in _PROVIDERS}
