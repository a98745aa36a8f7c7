"""The Docker engine, the kind node images in it, and the provider a rehearsal would run on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.doctor._rows import Row, estimates, size
from harness.errors import InfraError
from harness.providers import Choice
from harness.versions import Version

_START_ENGINE = ("start a Docker engine: `sudo systemctl start docker` (in a checkout, as root: "
                 "`bash scripts/kind/engine.sh start`)")


def _engine() -> tuple[Any, str]:
    """(a docker client or None, the engine's version or why none answers)."""
    from harness.engine import docker_client

    try:
        client = docker_client(timeout=10)
    except InfraError as e:
        return None, str(e).split("; start one")[0]
    try:
        return client, str(client.version().get("Version", "?"))
    except Exception as e:  # the SDK's own errors (untyped)
        client.close()
        return None, f"the Docker engine does not answer ({e})"


def _short(ref: str) -> str:
    name, _, digest = ref.partition("@")
    return f"{name}@{digest[:19]}…" if digest else name


def kind_rows(choice: Choice, versions: Sequence[Version]) -> list[Row]:
    client, said = _engine()
    needed = choice.name == "kind"
    try:
        if client is None:
            return [Row("docker engine", "missing" if needed else "no", said, _START_ENGINE)]
        rows = [Row("docker engine", "ok", f"Docker {said}", data={"version": said})]
        if choice.node_images:
            rows.append(_images_row(client, choice, versions))
        return rows
    finally:
        if client is not None:
            client.close()


def _images_row(client: Any, choice: Choice, versions: Sequence[Version]) -> Row:
    from harness.nodeimage import node_image_ref

    def present(ref: str) -> bool:
        try:
            client.images.get(ref)
        except Exception:  # docker.errors.ImageNotFound (the SDK is untyped)
            return False
        return True

    images = {ref: present(ref) for ref in choice.node_images}
    data: dict[str, Any] = {"images": images}
    absent = [r for r, here in images.items() if not here]
    if not absent:
        return Row("node images", "ok", f"in the engine: {', '.join(map(_short, images))}", data=data)
    built = {v.minor_key: node_image_ref(v) for v in versions}
    local = ",".join(f"{m}={ref}" for m, ref in built.items()) if all(map(present, built.values())) else ""
    data["built_here"] = local
    pulled = f"(~{size(estimates().node_image_mb * len(absent))} in the engine's storage)"
    if local:
        remedy = f"use the node images built here: `REHEARSE_KIND_IMAGES={local} rehearse run --provider kind`"
    else:
        remedy = ("`rehearse run --provider kind` pulls them (without a registry, in a checkout, as root: "
                  f"`python3 scripts/kind/build_images.py {' '.join(built)}` builds them here)")
    state = "pull" if choice.name == "kind" else "no"
    return Row("node images", state, f"not in the engine: {', '.join(map(_short, absent))} {pulled}", remedy, data)


def provider_row(choice: Choice) -> Row:
    picked = f"{choice.requested} → {choice.name}" if choice.requested == "auto" else choice.name
    data = {"requested": choice.requested, "chosen": choice.name, "reason": choice.reason}
    if not choice.ready:
        return Row("provider", "missing", f"{picked} cannot run here: {choice.reason}",
                   "put right the rows above, or rehearse on the local provider: `rehearse run --provider local …`",
                   data)
    detail = f"{picked}: {choice.reason}" if choice.reason else picked
    if choice.name == "kind" and choice.kind_release:
        detail += f" (kind {choice.kind_release})"
    return Row("provider", "ok", detail, data=data)

