"""Helm ``kubeVersion`` constraints evaluated as Helm evaluates them.

Where the expected values come from:

* Helm 3.16.4 ``pkg/chartutil/compatible.go`` — ``IsCompatibleRange(constraint, ver)`` is
  ``semver.NewConstraint(constraint).Check(semver.NewVersion(ver))`` (Masterminds/semver v3.3.0, per Helm's go.mod),
  and ``pkg/action/action.go`` passes ``Capabilities.KubeVersion``, the server's ``gitVersion`` such as ``v1.28.15``.
* Masterminds/semver v3.3.0 README (https://github.com/Masterminds/semver/blob/v3.3.0/README.md):
  "Basic Comparisons" (space or comma = AND, ``||`` = OR, ``>= 1.2 < 3.0.0 || >= 4.2.3``), "Working With Prerelease
  Versions" (``>=1.2.3`` skips prereleases, ``>=1.2.3-0`` includes them), "Hyphen Range Comparisons"
  (``1.2 - 1.4.5`` = ``>= 1.2 <= 1.4.5``; ``1.2-1.4.5`` without spaces is one version with prerelease ``1.4.5``),
  "Wildcards In Comparisons" (``1.2.x`` = ``>= 1.2.0, < 1.3.0``; ``<= 2.x`` = ``< 3``; ``*`` = ``>= 0.0.0``),
  "Tilde Range Comparisons" and "Caret Range Comparisons" (the equivalences quoted per case below).
* helm/helm#6190 and #3810: a cluster reporting ``v1.9.4-gke.1`` fails ``>=1.8.0``; the maintainers' workaround is
  ``>=1.13.0-0``.
* semver.org §11: a prerelease sorts below its release (``1.28.0-0 < 1.28.0``), numeric identifiers below
  alphanumeric ones (``1.28.0-0 < 1.28.0-rc.1``).
"""

from __future__ import annotations

import pytest

from harness.errors import InputError
from harness.knowledge.semver import satisfies

CASES: list[tuple[str, str, bool, str]] = [
    # -- the forms charts use for kubeVersion, against gitVersion strings (Helm passes "v1.28.15")
    (">=1.19.0-0", "v1.28.15", True, "README prerelease section: -0 admits releases and prereleases"),
    (">=1.19.0-0", "v1.28.15-eks-1a2b3c", True, "helm#6190 workaround for vendor suffixes"),
    (">=1.19.0", "v1.28.15-eks-1a2b3c", False, "README: a constraint without prerelease skips prereleases"),
    (">=1.8.0", "v1.9.4-gke.1", False, "helm#3810: GKE version rejected"),
    (">=1.19.0", "v1.28.15", True, "plain >="),
    ("<1.28.0", "1.28.0-0", False, "prerelease of 1.28.0 but the comparison has none: skipped, not 'less'"),
    ("<1.28.0", "v1.27.16-gke.100", False, "even a lower prerelease is skipped without -0"),
    ("<1.28.0-0", "v1.27.16", True, "below 1.28.0-0"),
    ("<1.28.0-0", "v1.28.0", False, "semver §11: 1.28.0 > 1.28.0-0"),
    ("<1.28.0-0", "v1.28.0-rc.1", False, "semver §11: rc.1 (alphanumeric) > 0 (numeric)"),
    ("<1.28.0-0", "v1.27.16-eks-1", True, "prerelease admitted because the comparison names one"),
    (">= 1.22.0 < 1.29.0", "v1.28.15", True, "README basic comparisons: space is AND"),
    (">= 1.22.0 < 1.29.0", "v1.29.0", False, "upper bound is exclusive"),
    (">= 1.22.0 < 1.29.0", "v1.21.14", False, "lower bound"),
    (">=1.22.0, <1.29.0", "v1.28.15", True, "README: comma is AND"),
    (">=1.22.0,<1.29.0", "v1.29.1", False, "comma without space"),
    (">= 1.2 < 3.0.0 || >= 4.2.3", "4.2.3", True, "README OR example, second branch"),
    (">= 1.2 < 3.0.0 || >= 4.2.3", "3.5.0", False, "README OR example, neither branch"),
    (">= 1.2 < 3.0.0 || >= 4.2.3", "1.2.0", True, "README OR example, first branch (1.2 = 1.2.0)"),
    (">= 1.2.3", "1.3", True, "README example: version 1.3 reads as 1.3.0"),
    # -- equality and wildcards
    ("=1.28.15", "v1.28.15", True, "README: = is equal"),
    ("1.28.15", "v1.28.15", True, "README: = is aliased to no operator"),
    ("1.28.15", "v1.28.14", False, "exact equality"),
    ("1.28", "v1.28.15", True, "README wildcards: on = a missing part falls back to ~, ~1.28 = >=1.28 <1.29"),
    ("1.28", "v1.29.0", False, "~1.28 excludes 1.29"),
    ("1.2.x", "1.2.9", True, "README: 1.2.x = >= 1.2.0, < 1.3.0"),
    ("1.2.x", "1.3.0", False, "README: 1.2.x = >= 1.2.0, < 1.3.0"),
    ("1.2.*", "1.2.0", True, "README: * is a wildcard like x"),
    ("1.2.X", "1.1.9", False, "README: X is a wildcard like x"),
    (">= 1.2.x", "1.2.0", True, "README: >= 1.2.x = >= 1.2.0"),
    ("<= 2.x", "2.99.0", True, "README: <= 2.x = < 3"),
    ("<= 2.x", "3.0.0", False, "README: <= 2.x = < 3"),
    ("<=1.28", "v1.28.15", True, "wildcard patch on <=: the whole 1.28 minor is included"),
    ("<=1.28", "v1.29.0", False, "wildcard patch on <="),
    (">1.27", "v1.27.16", False, "wildcard patch on >: greater than the whole 1.27 minor"),
    (">1.27", "v1.28.0", True, "wildcard patch on >"),
    ("*", "v1.28.15", True, "README: * = >= 0.0.0"),
    ("v1.28.x", "1.28.3", True, "a v prefix is accepted in constraints"),
    ("!=1.28.15", "1.28.15", False, "README: != is not equal"),
    ("!=1.28.15", "1.28.14", True, "README: != is not equal"),
    ("!=1.28.x", "1.28.3", False, "wildcards work for all operators (README)"),
    ("!=1.28.x", "1.29.0", True, "wildcards work for all operators (README)"),
    ("=>1.2", "1.2.0", True, "=> is >= (Masterminds operator table)"),
    ("=<1.2.0", "1.2.1", False, "=< is <= (Masterminds operator table)"),
    # -- hyphen ranges
    ("1.2 - 1.4.5", "1.4.5", True, "README: 1.2 - 1.4.5 = >= 1.2 <= 1.4.5"),
    ("1.2 - 1.4.5", "1.4.6", False, "README: 1.2 - 1.4.5 = >= 1.2 <= 1.4.5"),
    ("1.2 - 1.4.5", "1.1.9", False, "README: 1.2 - 1.4.5 = >= 1.2 <= 1.4.5"),
    ("2.3.4 - 4.5", "4.5.9", True, "README: 2.3.4 - 4.5 = >= 2.3.4 <= 4.5 (wildcard patch)"),
    ("2.3.4 - 4.5", "4.6.0", False, "README: 2.3.4 - 4.5 = >= 2.3.4 <= 4.5"),
    ("1.22 - 1.28", "v1.28.15", True, "a kubeVersion hyphen range covers the last minor entirely"),
    ("1.2-1.4.5", "1.2.0", True, "README: without spaces it is 1.2 with prerelease 1.4.5, i.e. ~1.2"),
    ("1.2-1.4.5", "1.4.5", False, "README: without spaces it is not a range"),
    # -- tilde
    ("~1.2.3", "1.2.3", True, "README: ~1.2.3 = >= 1.2.3, < 1.3.0"),
    ("~1.2.3", "1.2.9", True, "README: ~1.2.3 = >= 1.2.3, < 1.3.0"),
    ("~1.2.3", "1.3.0", False, "README: ~1.2.3 = >= 1.2.3, < 1.3.0"),
    ("~1.2.3", "1.2.2", False, "README: ~1.2.3 = >= 1.2.3, < 1.3.0"),
    ("~1", "1.9.0", True, "README: ~1 = >= 1, < 2"),
    ("~1", "2.0.0", False, "README: ~1 = >= 1, < 2"),
    ("~2.3", "2.3.9", True, "README: ~2.3 = >= 2.3, < 2.4"),
    ("~2.3", "2.4.0", False, "README: ~2.3 = >= 2.3, < 2.4"),
    ("~1.x", "1.5.0", True, "README: ~1.x = >= 1, < 2"),
    ("~>1.28.0", "v1.28.15", True, "~> is ~ (Masterminds operator table)"),
    # -- caret
    ("^1.2.3", "1.9.0", True, "README: ^1.2.3 = >= 1.2.3, < 2.0.0"),
    ("^1.2.3", "2.0.0", False, "README: ^1.2.3 = >= 1.2.3, < 2.0.0"),
    ("^1.2.3", "1.2.2", False, "README: ^1.2.3 = >= 1.2.3, < 2.0.0"),
    ("^1.2", "v1.28.15", True, "README: ^2.3 = >= 2.3, < 3 (same shape); every 1.x Kubernetes from 1.2"),
    ("^2.x", "2.0.0", True, "README: ^2.x = >= 2.0.0, < 3"),
    ("^0.2.3", "0.2.9", True, "README: ^0.2.3 = >=0.2.3 <0.3.0"),
    ("^0.2.3", "0.3.0", False, "README: ^0.2.3 = >=0.2.3 <0.3.0"),
    ("^0.2", "0.2.0", True, "README: ^0.2 = >=0.2.0 <0.3.0"),
    ("^0.0.3", "0.0.3", True, "README: ^0.0.3 = >=0.0.3 <0.0.4"),
    ("^0.0.3", "0.0.4", False, "README: ^0.0.3 = >=0.0.3 <0.0.4"),
    ("^0.0", "0.0.9", True, "README: ^0.0 = >=0.0.0 <0.1.0"),
    ("^0.0", "0.1.0", False, "README: ^0.0 = >=0.0.0 <0.1.0"),
    ("^0", "0.9.0", True, "README: ^0 = >=0.0.0 <1.0.0"),
    ("^0", "1.0.0", False, "README: ^0 = >=0.0.0 <1.0.0"),
    # -- build metadata does not take part in comparisons (semver §10)
    (">=1.28.0", "v1.28.0+build.5", True, "metadata ignored"),
]


@pytest.mark.parametrize(("constraint", "version", "expected", "why"), CASES,
                         ids=[f"{c}|{v}" for c, v, _, _ in CASES])
def test_constraint_table(constraint: str, version: str, expected: bool, why: str) -> None:
    assert satisfies(constraint, version) is expected, why


@pytest.mark.parametrize("constraint", [
    "",  # Masterminds rejects an empty constraint (Helm never calls it for a chart without kubeVersion)
    "   ",
    ">=",
    "foo",
    ">=1.2.3 <",
    ">=1.2.3 ||",
    ">=1.2.3<2.0.0",  # two comparisons need a space or a comma between them
    ">>1.2.3",
    ">=1.2.3-01",  # semver §9: numeric prerelease identifiers have no leading zeros
    "1.2.3.4",
    ">=1.2.3 && <2",
])
def test_unparsable_constraint_is_an_input_error(constraint: str) -> None:
    with pytest.raises(InputError, match="bad kubeVersion constraint"):
        satisfies(constraint, "v1.28.15")


@pytest.mark.parametrize("version", ["", "1.28.x", "latest", "v1.28.15-", "1.28.15-01"])
def test_unparsable_version_is_an_input_error(version: str) -> None:
    with pytest.raises(InputError, match="bad version"):
        satisfies(">=1.19.0-0", version)
