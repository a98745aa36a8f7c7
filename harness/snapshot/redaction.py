"""How a snapshot is kept secret-free, as its callers steer it: a :class:`RedactionPolicy` (key names a team adds or
exempts), :func:`redacting` (the policy in force while a snapshot is taken, and the record of what was masked) and
:func:`finish` (the facts read outside objects, and the record written into the snapshot).

What is masked, by shape and by place, is described in :mod:`harness.snapshot._redact` and
:mod:`harness.snapshot._redact_places`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from harness.errors import InputError
from harness.snapshot._redact import Masks, Policy, Session, current, normalize, session
from harness.snapshot._redact_places import NORMAL, Redactor
from harness.snapshot.model import Snapshot

__all__ = ["Masks", "RedactionPolicy", "finish", "policy_from", "redacting"]

RedactionPolicy = Policy
_KEY = re.compile(r"[A-Za-z0-9_.\-*?\[\]]+")


def policy_from(redact_keys: list[str] | None, keep_keys: list[str] | None) -> RedactionPolicy:
    """The policy ``--redact-key``/``--keep-key`` ask for; :class:`InputError` for a key that cannot be one."""
    redact, keep = list(redact_keys or []), list(keep_keys or [])
    for flag, keys in (("--redact-key", redact), ("--keep-key", keep)):
        for key in keys:
            if not _KEY.fullmatch(key) or not normalize(key).strip("*?"):
                raise InputError(f"{flag} {key!r}: expected a key name such as masterKey or DB_PASS (letters, digits, "
                                 "'_', '-', '.'; '*' and '?' as wildcards)")
    both = sorted({normalize(k) for k in redact} & {normalize(k) for k in keep})
    if both:
        raise InputError(f"--redact-key and --keep-key both name {both[0]!r}; give it once")
    return Policy(tuple(redact), tuple(keep))


@contextmanager
def redacting(policy: RedactionPolicy | None = None) -> Iterator[Masks]:
    """Take snapshots inside this block to redact with ``policy`` (``None``: the one in force, by default the
    built-in rules alone) and record each mask in the :class:`Masks` yielded (then pass it to :func:`finish`)."""
    with session(policy) as masks:
        yield masks


def finish(snapshot: Snapshot, masks: Masks, policy: RedactionPolicy | None = None) -> Snapshot:
    """Mask the facts a snapshot keeps outside its objects (control-plane flags, webhook URLs) and add every mask
    to ``snapshot.masked`` (where and why, never the value). Idempotent: finishing twice changes nothing."""
    done = Session(policy if policy is not None else current().policy, masks)
    cp = snapshot.control_plane
    for component, args in (("kube-apiserver", cp.apiserver_args),
                            ("kube-controller-manager", cp.controller_manager_args),
                            ("kube-scheduler", cp.scheduler_args)):
        Redactor(f"control-plane {component}", done).walk_list(args, "args", NORMAL, "args")
    for hook in snapshot.webhooks:
        if hook.url:
            hook.url = Redactor(f"webhook {hook.configuration}/{hook.name}", done).shaped(hook.url, "url")
    snapshot.masked = sorted(set(snapshot.masked) | set(masks.entries()))
    return snapshot
