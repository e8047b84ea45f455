"""`[[tool.contiguify.entry-points]]`: a checkout's own attention calls, known to both profiles, the cache,
`explain` and `verify` as the built-in ones are; a malformed table is an error naming the file and the key.

The checkout is `fixtures/vendor`: the spec's forwards calling the checkout's own `fused_attention`, which
its pyproject.toml declares.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from codemod.config import entry_point_from_config
from codemod.match.entry_points import ENTRY_POINTS, find_entry_point, with_builtins
from codemod.rewrite.file import rewrite
from codemod.rewrite.profiles import get_profile
from fixtures.catalog import FIXTURES, cases
from tests.cli_runner import invoke

VENDOR = FIXTURES / "vendor"
CASE = next(case for case in cases() if case.checkout == "vendor")
ENTRY_SITES = [site.id for site in get_profile("boundary").sites() if site.id.startswith("boundary.attention-")]
DECLARATION = (VENDOR / "pyproject.toml").read_text()


@pytest.fixture
def vendor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the vendor checkout, the working directory, with a cache of its own."""
    copy = tmp_path / "vendor"
    shutil.copytree(VENDOR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.chdir(copy)
    monkeypatch.setenv("CONTIGUIFY_CACHE_DIR", str(tmp_path / "cache"))
    return copy


def site_statuses(output: bytes) -> dict[str, set[str]]:
    """site id -> the statuses it has across the targets of a `--format json` report."""
    found: dict[str, set[str]] = {}
    for file in json.loads(output)["files"]:
        for target in file["targets"]:
            for site in target["sites"]:
                found.setdefault(site["id"], set()).add(site["status"])
    return found


def test_the_bundled_checkout_declares_the_kernel_its_case_calls() -> None:
    assert CASE.entry_points[0].label == "vendor-fused"
    assert CASE.entry_points[1:] == ENTRY_POINTS
    assert b"fused_attention(" in CASE.source.read_bytes()
    assert find_entry_point("fused_attention") is None  # not a built-in: only the declaration makes it one


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "undeclared"])
def test_boundary_finds_the_declared_kernel_and_only_then(vendor: Path, declared: bool) -> None:
    if not declared:
        (vendor / "pyproject.toml").write_text(DECLARATION.split("[[tool.contiguify.entry-points]]")[0])
    code, out, err = invoke("check", "--profile", "boundary", "--format", "json", ".")
    assert code == 1, err
    statuses = site_statuses(out)
    for site in ENTRY_SITES:
        assert statuses[site] == ({"inserted"} if declared else {"missing"}), (site, statuses)
    hint = "declare your own in tool.contiguify.entry-points"
    assert (hint in err) is not declared, err


def test_seed_tells_the_views_apart_by_the_declared_kernel(vendor: Path) -> None:
    """`x = x.view(...)` before the attention call and after it are different seed sites."""
    code, out, err = invoke("check", "--format", "json", ".")
    assert code == 1, err
    assert all(statuses == {"inserted"} for statuses in site_statuses(out).values()), out
    (vendor / "pyproject.toml").write_text(DECLARATION.split("[[tool.contiguify.entry-points]]")[0])
    _, out, _ = invoke("check", "--format", "json", ".")
    assert site_statuses(out)["single.x-view-out"] == {"missing"}


def test_a_changed_declaration_is_not_served_from_the_cache(vendor: Path) -> None:
    first = invoke("check", "--profile", "boundary", "--format", "json", ".")
    assert invoke("check", "--profile", "boundary", "--format", "json", ".") == first  # the cached run agrees
    (vendor / "pyproject.toml").write_text(DECLARATION.replace('"fused_attention", ', ""))
    _, out, _ = invoke("check", "--profile", "boundary", "--format", "json", ".")
    # Still declared as `*.fused_attention`, which a bare call does not match.
    assert site_statuses(out)["boundary.attention-q"] == {"missing"}


def test_fix_writes_what_the_case_expects(vendor: Path) -> None:
    code, _, err = invoke("fix", ".")
    assert code == 1, err
    expected = rewrite(CASE.source.read_bytes(), "seed", entry_points=CASE.entry_points).new
    assert (vendor / CASE.path).read_bytes() == expected
    assert invoke("check", ".")[0] == 0


def test_a_declaration_wins_over_a_built_in_of_the_same_name() -> None:
    """The built-in `attention` may dispatch to kernels that ignore strides: its transposed inputs are made
    contiguous as they are. Declared as reading strides, the call goes before the transpose instead."""
    source = (FIXTURES / "cases" / "jun2025_qk_norm.in.py").read_bytes()
    built_in = rewrite(source, "boundary").new or b""
    assert b"q.transpose(1, 2).contiguous()" in built_in
    mine = entry_point_from_config({"names": ["attention"], "layout": "B L H D", "reads-strides": True})
    declared = rewrite(source, "boundary", entry_points=with_builtins([mine])).new or b""
    assert b"q.contiguous().transpose(1, 2)" in declared and b"q.transpose(1, 2).contiguous()" not in declared


PACKED = b"""\
class SingleStreamAttention(nn.Module):
    def forward(self, x):
        qkv = [q, k, v]
        x = run_packed(qkv, causal=False)
        return x
"""


def test_a_packed_declaration_makes_the_list_elements_contiguous_where_it_is_built() -> None:
    mine = entry_point_from_config({"names": "run_packed", "layout": "B L H D", "packed": True})
    result = rewrite(PACKED, "boundary", entry_points=with_builtins([mine]))
    assert result.new == PACKED.replace(b"[q, k, v]", b"[q.contiguous(), k.contiguous(), v.contiguous()]")


def test_explain_and_verify_use_the_declaration(vendor: Path) -> None:
    pytest.importorskip("torch", reason="explain and verify run the forwards with torch")
    pytest.importorskip("einops", reason="the fixture imports einops")
    small = ["--dim=64", "--heads=4", "--enc-dim=32", "--enc-tokens=8", "--frames=3", "--height=4", "--width=4"]
    code, out, err = invoke("explain", str(CASE.path), "--format", "json", *small)
    assert code == 0, err
    runs = json.loads(out)["runs"]
    calls = {(boundary["call"], boundary["arg"]) for run in runs for boundary in run["boundaries"]}
    assert {("fused_attention", name) for name in ("q", "k", "v")} <= calls, calls
    code, out, err = invoke("verify", "--format", "json", ".")
    assert code == 0, err
    statuses = {run["status"] for file in json.loads(out)["files"] for target in file["targets"] for run in target["runs"]}
    assert statuses == {"equal"}


def test_explain_refuses_a_malformed_declaration(vendor: Path) -> None:
    pytest.importorskip("torch", reason="explain runs the forwards with torch")
    (vendor / "pyproject.toml").write_text('[[tool.contiguify.entry-points]]\nnames = ["f"]\nlayout = "BLHD"\n')
    code, out, err = invoke("explain", str(CASE.path))
    assert (code, out) == (2, b"") and "Traceback" not in err
    assert "pyproject.toml: tool.contiguify.entry-points[0]: layout must be one of" in err, err


def test_the_readme_settings_example_is_a_valid_config(tmp_path: Path) -> None:
    """The `[tool.contiguify]` block a reader copies from the README is read without error, entries and all."""
    from codemod.config import read_table

    readme = (FIXTURES.parent / "README.md").read_text(encoding="utf-8")
    block = next(part.split("```", 1)[0] for part in readme.split("```toml\n")[1:] if "[tool.contiguify]" in part)
    (tmp_path / "pyproject.toml").write_text(block)
    (declared,) = read_table(str(tmp_path / "pyproject.toml"))["entry-points"]
    assert declared.matches("fused_attention") and declared.keywords == ("query", "key", "value")


def test_list_shows_the_declared_entry_points_first_then_the_built_in_ones(vendor: Path) -> None:
    code, out, err = invoke("list", "--entry-points")
    assert code == 0, err
    rows = [line.split("\t") for line in out.decode().splitlines()]
    assert [row[:2] for row in rows] == [["pyproject.toml", "vendor-fused"]] + [
        ["built-in", entry.label] for entry in ENTRY_POINTS]
    assert rows[0][2:5] == ["B L H D", "fused_attention,*.fused_attention", "query,key,value"]
