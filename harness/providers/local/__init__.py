"""The ``local`` provider: real control-plane processes, kwok's simulated nodes (see :mod:`.provider`)."""

from __future__ import annotations

from harness.providers.local.provider import LocalProvider

__all__ = ["LocalProvider"]
