"""Helm chart ``kubeVersion`` constraints, judged the way Helm 3 judges them.

Helm (``chartutil.IsCompatibleRange``) parses the cluster's ``gitVersion`` (``v1.28.15``, ``v1.28.15-eks-1a2b``)
and the chart's constraint with Masterminds/semver v3 and calls ``Constraints.Check``. This module follows the
rules of that library (v3.3.0, the one Helm 3.16 ships):

* ``,`` or whitespace between comparisons means AND, ``||`` means OR; ``a - b`` (spaces required) is ``>= a, <= b``;
* operators ``=`` (or none), ``!=``, ``>``, ``<``, ``>=``/``=>``, ``<=``/``=<``, ``~``/``~>``, ``^``;
* ``x``, ``X``, ``*`` or a missing part is a wildcard ("dirty"): ``1.2`` and ``1.2.x`` mean ``~1.2``, ``>1.2`` means
  ``>=1.3``, ``<=1.2`` means ``<1.3``;
* a version with a prerelease (anything after ``-``, which is how EKS and GKE report theirs) satisfies a comparison
  only when that comparison carries a prerelease too — hence charts writing ``>=1.19.0-0``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import NamedTuple

from harness.errors import InputError

__all__ = ["satisfies"]

_PRE = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_WILD_OR_NUM = r"(?:[0-9]+|[xX*])"
# A version inside a constraint: parts may be wildcards or missing.
_CONSTRAINT_VERSION = rf"v?{_WILD_OR_NUM}(?:\.{_WILD_OR_NUM})?(?:\.{_WILD_OR_NUM})?(?:-{_PRE})?(?:\+{_PRE})?"
# Operators, longest first so that ">=" is not read as ">" followed by garbage; "" (no operator) last.
_OPERATORS = ("!=", ">=", "=>", "<=", "=<", "~>", ">", "<", "=", "~", "^", "")
_OP = "|".join(re.escape(op) for op in _OPERATORS)

_ONE = re.compile(rf"({_OP})\s*({_CONSTRAINT_VERSION})", re.ASCII)
_AND_LIST = re.compile(rf"\s*(?:{_OP})\s*{_CONSTRAINT_VERSION}\s*(?:(?:\s+|,\s*)(?:{_OP})\s*{_CONSTRAINT_VERSION}\s*)*",
                       re.ASCII)
_HYPHEN = re.compile(rf"\s*({_CONSTRAINT_VERSION})\s+-\s+({_CONSTRAINT_VERSION})\s*", re.ASCII)
_PARTS = re.compile(rf"^v?({_WILD_OR_NUM})(?:\.({_WILD_OR_NUM}))?(?:\.({_WILD_OR_NUM}))?(?:-({_PRE}))?(?:\+{_PRE})?$",
                    re.ASCII)
_VERSION = re.compile(rf"^v?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(?:-({_PRE}))?(?:\+{_PRE})?$", re.ASCII)


class _Ver(NamedTuple):
    """A parsed version: numbers plus the prerelease ("" when none); build metadata is dropped."""

    major: int
    minor: int
    patch: int
    pre: str


def _pre_ok(pre: str) -> bool:
    """Numeric prerelease identifiers may not have leading zeros (semver §9)."""
    return all(not (p.isdigit() and len(p) > 1 and p[0] == "0") for p in pre.split(".")) if pre else True


def _compare_identifiers(a: str, b: str) -> int:
    if a == b:
        return 0
    if not a or not b:  # the shorter list of identifiers sorts first
        return -1 if not a else 1
    a_num, b_num = a.isdigit(), b.isdigit()
    if a_num and b_num:
        return -1 if int(a) < int(b) else 1
    if a_num != b_num:  # numeric identifiers sort before alphanumeric ones
        return -1 if a_num else 1
    return -1 if a < b else 1  # ASCII order


def _compare_pre(a: str, b: str) -> int:
    left, right = a.split("."), b.split(".")
    for i in range(max(len(left), len(right))):
        d = _compare_identifiers(left[i] if i < len(left) else "", right[i] if i < len(right) else "")
        if d:
            return d
    return 0


def _compare(a: _Ver, b: _Ver) -> int:
    """Semver precedence: numbers, then a release above its prereleases, then prerelease identifiers."""
    if a[:3] != b[:3]:
        return -1 if a[:3] < b[:3] else 1
    if a.pre == b.pre:
        return 0
    if not a.pre or not b.pre:
        return 1 if not a.pre else -1
    return _compare_pre(a.pre, b.pre)


def _is_wild(part: str | None) -> bool:
    return part is None or part in ("x", "X", "*")


@dataclass(frozen=True)
class _Comparison:
    op: str
    version: _Ver  # wildcards read as 0
    text: str
    any_major: bool = False  # "*", "x": everything is a wildcard
    any_minor: bool = False  # "1", "1.x"
    any_patch: bool = False  # "1.2", "1.2.x"

    @property
    def wild(self) -> bool:
        return self.any_major or self.any_minor or self.any_patch

    def check(self, v: _Ver) -> bool:
        """Whether ``v`` satisfies this one comparison."""
        c = self.version
        if v.pre and not c.pre and not (self.op == "!=" and not self.wild):
            return False  # prereleases only match comparisons that name a prerelease
        cmp = _compare(v, c)
        if self.op in ("", "="):
            return self._tilde(v, cmp) if self.wild else cmp == 0
        if self.op == "!=":
            return self._not_equal(v, cmp)
        if self.op == ">":
            if not self.wild or v.major != c.major:
                return cmp > 0 if not self.wild else v.major > c.major
            if self.any_minor:
                return False
            return v.minor > c.minor if self.any_patch else cmp > 0
        if self.op == "<":
            return cmp < 0
        if self.op in (">=", "=>"):
            return cmp >= 0
        if self.op in ("<=", "=<"):
            if not self.wild:
                return cmp <= 0
            return v.major < c.major or (v.major == c.major and (v.minor <= c.minor or self.any_minor))
        if self.op in ("~", "~>"):
            return self._tilde(v, cmp)
        return self._caret(v, cmp)

    def _tilde(self, v: _Ver, cmp: int) -> bool:
        c = self.version
        if cmp < 0:
            return False
        if c[:3] == (0, 0, 0) and not self.any_minor and not self.any_patch:
            return True  # ~0.0.0 and ~* accept everything
        return v.major == c.major and (v.minor == c.minor or self.any_minor)

    def _caret(self, v: _Ver, cmp: int) -> bool:
        c = self.version
        if cmp < 0:
            return False
        if c.major > 0 or self.any_minor:
            return v.major == c.major
        if v.major > 0:
            return False
        if c.minor > 0 or self.any_patch:
            return v.minor == c.minor
        if v.minor > 0:
            return False
        return v.patch == c.patch

    def _not_equal(self, v: _Ver, cmp: int) -> bool:
        c = self.version
        if self.wild:
            if v.major != c.major:
                return True
            if self.any_minor:
                return False
            if v.minor != c.minor:
                return True
            if self.any_patch:
                return bool(v.pre or c.pre) and _compare_pre(v.pre, c.pre) != 0
            if v.patch != c.patch:
                return True
        return cmp != 0


def _bad(constraint: str, why: str) -> InputError:
    return InputError(f"bad kubeVersion constraint {constraint!r}: {why}")


def _comparison(op: str, text: str, constraint: str) -> _Comparison:
    m = _PARTS.match(text)
    if m is None:
        raise _bad(constraint, f"{text!r} is not a version")
    major, minor, patch, pre = m.group(1), m.group(2), m.group(3), m.group(4) or ""
    if not _pre_ok(pre):
        raise _bad(constraint, f"prerelease of {text!r} has a numeric part with a leading zero")
    if _is_wild(major):
        return _Comparison(op, _Ver(0, 0, 0, pre), text, any_major=True)
    if _is_wild(minor):
        return _Comparison(op, _Ver(int(major), 0, 0, pre), text, any_minor=True)
    if _is_wild(patch):
        return _Comparison(op, _Ver(int(major), int(minor), 0, pre), text, any_patch=True)
    return _Comparison(op, _Ver(int(major), int(minor), int(patch), pre), text)


@functools.lru_cache(maxsize=256)
def _parse(constraint: str) -> tuple[tuple[_Comparison, ...], ...]:
    """OR of ANDs of comparisons."""
    rewritten = _HYPHEN.sub(lambda m: f">= {m.group(1)}, <= {m.group(2)} ", constraint)
    alternatives: list[tuple[_Comparison, ...]] = []
    for part in rewritten.split("||"):
        if not _AND_LIST.fullmatch(part):
            raise _bad(constraint, f"cannot read {part.strip()!r}" if part.strip() else "empty comparison")
        alternatives.append(tuple(_comparison(m.group(1), m.group(2), constraint) for m in _ONE.finditer(part)))
    return tuple(alternatives)


def _version(text: str) -> _Ver:
    m = _VERSION.match(text.strip())
    if m is None or not _pre_ok(m.group(4) or ""):
        raise InputError(f"bad version {text!r}: expected a semantic version like v1.28.15")
    return _Ver(int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0), m.group(4) or "")


def satisfies(constraint: str, version: str) -> bool:
    """Whether ``version`` (``v1.28.15``, ``1.28.15-eks-1a2b``) meets the chart constraint, as Helm decides.

    Raises :class:`InputError` for a constraint or version that cannot be parsed (Helm treats both as "not
    compatible"); an empty constraint is unparsable too (Helm skips the check when a chart sets none).
    """
    v = _version(version)
    return any(all(c.check(v) for c in alternative) for alternative in _parse(constraint))
