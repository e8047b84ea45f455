"""`revert` removes exactly the calls `fix` inserts: `revert(fix(x)) == x` on every fixture case and profile.

A file's own `.contiguous()` calls outside the profile's sites stay; on a file that has none of the
profile's calls, revert is a no-op. Calls written by hand at a site are the profile's too (see the
README): a case that holds some loses them, and fixing it again gives the same file.
"""

from __future__ import annotations

import pytest

from codemod.match.patterns import DEFAULT_TARGETS, parse_targets
from codemod.rewrite.file import rewrite
from codemod.rewrite.profiles import all_profiles
from codemod.rewrite.revert import revert
from fixtures.catalog import cases

PROFILES = sorted(all_profiles())
TARGETS = parse_targets(DEFAULT_TARGETS)
BY_NAME = {case.name: case for case in cases()}
PAIRS = [pytest.param(name, profile, id=f"{name}-{profile}") for name in BY_NAME for profile in PROFILES]
COUNT = b".contiguous()"


def _fix(data: bytes, profile: str, name: str) -> tuple[bytes, int]:
    """The fixed bytes, and how many of the profile's sites already had their call."""
    result = rewrite(data, profile, TARGETS, entry_points=BY_NAME[name].entry_points)
    assert result.error is None and result.new is not None, result.error
    present = sum(site.status == "present" for target in result.targets for site in target.sites)
    return result.new, present


@pytest.mark.parametrize(("name", "profile"), PAIRS)
def test_revert_of_fix_is_the_original(name: str, profile: str) -> None:
    case = BY_NAME[name]
    original = case.source.read_bytes()
    fixed, present = _fix(original, profile, name)
    back = revert(fixed, profile, TARGETS, entry_points=case.entry_points)
    assert back.error is None, back.error
    assert back.new is not None
    if present:
        # Calls already at the profile's sites cannot be told from its own: they go too, and fix puts them back.
        assert back.new.count(COUNT) < original.count(COUNT)
        assert _fix(back.new, profile, name)[0] == fixed
    else:
        assert back.new == original


@pytest.mark.parametrize(("name", "profile"), PAIRS)
def test_revert_of_unfixed_is_a_no_op(name: str, profile: str) -> None:
    case = BY_NAME[name]
    original = case.source.read_bytes()
    back = revert(original, profile, TARGETS, entry_points=case.entry_points)
    assert back.error is None, back.error
    fixed, present = _fix(original, profile, name) if COUNT in original else (b"", 0)
    if present:  # a hand-fixed file is reverted like a fixed one (README, "Updating")
        assert back.changed and _fix(back.new or b"", profile, name)[0] == fixed
    else:
        assert back.new == original and not back.changed


@pytest.mark.parametrize("profile", PROFILES)
def test_own_calls_outside_the_sites_stay(profile: str) -> None:
    case = BY_NAME["jan2026"]
    original = case.source.read_bytes()
    marker = b"            x_extra = x[:, -N_h * N_w:, :]"  # not a site of any profile, inside a target method
    if marker not in original:
        pytest.fail("the jan2026 case no longer has the line this test edits")
    own = original.replace(marker, marker + b".contiguous()", 1)
    fixed, _ = _fix(own, profile, "jan2026")
    assert fixed.count(COUNT) > own.count(COUNT)
    back = revert(fixed, profile, TARGETS, entry_points=case.entry_points)
    assert back.new == own, back.error


@pytest.mark.parametrize("data", [
    pytest.param(b"class SingleStreamAttention:\n    def forward(self, x:\n", id="syntax-error"),
    pytest.param(b"class SingleStreamAttention:\n    def forward(self, x):\n        return x\0\n", id="binary"),
    pytest.param(b"class SingleStreamAttention:\n    def forward(self, x):\n        return x" + b"+x" * 30_000 + b"\n",
                 id="too-deep"),
])
@pytest.mark.parametrize("profile", PROFILES)
def test_a_file_fix_cannot_handle_is_the_same_error_for_revert(data: bytes, profile: str) -> None:
    fixed = rewrite(data, profile, TARGETS, path="m.py")
    assert fixed.error is not None
    back = revert(data, profile, TARGETS, path="m.py")
    assert back.error == fixed.error and back.new is None
