"""`--provider auto`: kind when a Docker engine answers, kind is available and the node images are already in the
engine; local otherwise, with one line saying why. These need no engine: an absent one is real (DOCKER_HOST at a
socket nobody listens on); a present one holding the pinned kindest/node images cannot exist here (nothing can be
pulled), so that case replaces ``KindProvider.available`` / ``missing_images`` by what they return on such a
machine: ``(True, "Docker engine and kind v0.25.0")`` and ``[]``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from harness.cli._ui import UI
from harness.errors import InfraError, InputError
from harness.providers import choose
from harness.providers.base import Provider
from harness.providers.kind import KIND_RELEASE, KindProvider
from harness.providers.local import LocalProvider
from harness.versions import Version, catalogue


def _args(provider: str) -> argparse.Namespace:
    return argparse.Namespace(provider=provider, load_image=[], nodes=None)


def _provider(args: argparse.Namespace, ui: UI, versions: list[Version]) -> Provider:
    """What ``rehearse run`` does with ``--provider``: :func:`choose`, and one line when auto fell back."""
    chosen, why = choose(args.provider, versions, ui, preload=args.load_image, node_count=args.nodes)
    if why is not None:
        ui.info(f"provider auto: local, not kind: {why}")
    return chosen


def _versions(*minors: str) -> list[Version]:
    cat = catalogue()
    return [cat.resolve(m) for m in minors]


@pytest.fixture()
def no_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")


def test_auto_without_an_engine_is_local_and_says_why(no_engine: None, capsys: pytest.CaptureFixture[str]) -> None:
    chosen = _provider(_args("auto"), UI(), _versions("1.27", "1.28"))
    assert isinstance(chosen, LocalProvider)
    assert "provider auto: local, not kind: no Docker engine answers" in capsys.readouterr().err


def test_explicit_kind_without_an_engine_is_an_infrastructure_error(no_engine: None) -> None:
    with pytest.raises(InfraError, match="the kind provider cannot run here: no Docker engine answers"):
        _provider(_args("kind"), UI(), _versions("1.27", "1.28"))


def test_auto_when_no_kind_release_covers_the_versions_is_local(capsys: pytest.CaptureFixture[str]) -> None:
    chosen = _provider(_args("auto"), UI(), _versions("1.24", "1.32"))
    assert isinstance(chosen, LocalProvider)
    assert "no kind release publishes node images for all of 1.24, 1.32" in capsys.readouterr().err
    with pytest.raises(InputError, match="no kind release"):
        _provider(_args("kind"), UI(), _versions("1.24", "1.32"))


def test_auto_with_engine_and_images_is_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(KindProvider, "available", lambda self: (True, f"Docker engine and kind {KIND_RELEASE}"))
    monkeypatch.setattr(KindProvider, "missing_images", lambda self: [])
    chosen = _provider(_args("auto"), UI(), _versions("1.27", "1.28"))
    assert isinstance(chosen, KindProvider)


def test_auto_never_pulls_missing_images(monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(KindProvider, "available", lambda self: (True, f"Docker engine and kind {KIND_RELEASE}"))
    chosen = _provider(_args("auto"), UI(), _versions("1.27", "1.28"))
    assert isinstance(chosen, LocalProvider)
    err = capsys.readouterr().err
    assert "kindest/node:v1.27.16@sha256:" in err and "kindest/node:v1.28.15@sha256:" in err
    assert "not in the Docker engine" in err
