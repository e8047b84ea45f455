"""Where a target class may be defined: at module level in any block (rewritten), or inside a function (reported)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from codemod.match.patterns import DEFAULT_TARGETS, parse_targets
from codemod.results import TargetResult
from codemod.rewrite.engine import rewrite_module_source
from codemod.rewrite.profiles import all_profiles, get_profile
from tests.cli_runner import invoke

# A single-speaker forward with one site before the attention call.
CLASS = (
    "class SingleStreamAttention(nn.Module):\n"
    "    def forward(self, x):\n"
    "        x = x.view(B * N_t, S, self.dim)\n"
    "        return attention(x, x, x)\n"
)
REWRITTEN = CLASS.replace("self.dim)", "self.dim).contiguous()")


def seed(source: str) -> tuple[str, tuple[TargetResult, ...]]:
    return rewrite_module_source(source, get_profile("seed"), parse_targets(DEFAULT_TARGETS))


def forward_lines(source: str) -> list[int]:
    return [number for number, line in enumerate(source.splitlines(), start=1) if "def forward" in line]


def inside(wrapper: str, code: str) -> str:
    """`wrapper` with `{}` replaced by `code`, indented to where `{}` stands."""
    head, _, tail = wrapper.partition("{}")
    indent = head[head.rfind("\n") + 1:]
    return head[:len(head) - len(indent)] + textwrap.indent(code, indent) + tail.removeprefix("\n")


# Blocks at module level: the class in them is a module-level class, rewritten like one.
MODULE_LEVEL = [
    pytest.param("try:\n    {}\nexcept ImportError:\n    raise\n", id="try"),
    pytest.param("try:\n    import flash_attn\nexcept ImportError:\n    {}\n", id="except"),
    pytest.param("try:\n    pass\nfinally:\n    {}\n", id="finally"),
    pytest.param("if TORCH2:\n    {}\n", id="if"),
    pytest.param("if a:\n    pass\nelif b:\n    pass\nelse:\n    {}\n", id="else-after-elif"),
    pytest.param("with context():\n    {}\n", id="with"),
    pytest.param("for name in names:\n    {}\n", id="for"),
    pytest.param("while not done:\n    {}\n    break\n", id="while"),
    pytest.param("match version:\n    case 2:\n        {}\n", id="match-case"),
    pytest.param("if a:\n    try:\n        {}\n    except ImportError:\n        pass\n", id="try-in-if"),
    pytest.param("class Outer:\n    if a:\n        {}\n", id="if-in-a-class"),
]
# Blocks in the class's body, around the method (the class's first line stays).
METHOD_BLOCKS = [
    pytest.param("if TORCH2:\n    {}\n", id="if"),
    pytest.param("if a:\n    pass\nelse:\n    {}\n", id="else"),
    pytest.param("try:\n    {}\nexcept ImportError:\n    pass\n", id="try"),
]


@pytest.mark.parametrize("wrapper", MODULE_LEVEL)
@pytest.mark.parametrize("profile", list(all_profiles()))
def test_classes_in_module_level_blocks_are_rewritten(wrapper: str, profile: str) -> None:
    plain_new, plain_targets = rewrite_module_source(CLASS, get_profile(profile), parse_targets(DEFAULT_TARGETS))
    new, targets = rewrite_module_source(inside(wrapper, CLASS), get_profile(profile), parse_targets(DEFAULT_TARGETS))
    assert new != inside(wrapper, CLASS)
    assert new == inside(wrapper, plain_new)
    assert [site.status for target in targets for site in target.sites] == [
        site.status for target in plain_targets for site in target.sites
    ]


@pytest.mark.parametrize("wrapper", METHOD_BLOCKS)
def test_methods_in_blocks_of_the_class_body_are_rewritten(wrapper: str) -> None:
    head, _, method = CLASS.partition("\n")
    plain_head, _, plain_method = REWRITTEN.partition("\n")
    new, targets = seed(f"{head}\n" + textwrap.indent(inside(wrapper, textwrap.dedent(method)), "    "))
    assert new == f"{plain_head}\n" + textwrap.indent(inside(wrapper, textwrap.dedent(plain_method)), "    ")
    assert [site.status for target in targets for site in target.sites].count("inserted") == 1


def test_both_spellings_of_a_conditional_class_are_rewritten() -> None:
    source = f"if a:\n{textwrap.indent(CLASS, '    ')}else:\n{textwrap.indent(CLASS, '    ')}"
    new, targets = seed(source)
    assert new == f"if a:\n{textwrap.indent(REWRITTEN, '    ')}else:\n{textwrap.indent(REWRITTEN, '    ')}"
    assert [target.line for target in targets] == forward_lines(source)


FUNCTIONS = [
    pytest.param("def make():\n    {}\n    return SingleStreamAttention\n", "make", id="function"),
    pytest.param("def make():\n    if a:\n        {}\n", "make", id="if-in-a-function"),
    pytest.param("async def build():\n    {}\n", "build", id="async-function"),
    pytest.param("class Outer:\n    def method(self):\n        {}\n", "method", id="method"),
]


@pytest.mark.parametrize(("wrapper", "function"), FUNCTIONS)
def test_classes_inside_functions_are_reported_not_rewritten(wrapper: str, function: str) -> None:
    source = inside(wrapper, CLASS)
    new, targets = seed(source)
    assert new == source
    (target,) = targets
    assert target.class_name == "SingleStreamAttention"
    assert [target.line] == forward_lines(source)
    reason = f"its class is defined inside the function {function}(), which contiguify does not rewrite"
    assert {(site.status, site.reason) for site in target.sites} == {("missing", reason)}
    assert len(target.sites) == len(get_profile("seed").sites_for(target.role))


def test_a_class_inside_a_function_warns_and_fails_strict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The target out of reach is named with its line and the reason, and fails --strict."""
    source = inside("def make():\n    {}\n    return SingleStreamAttention\n", CLASS)
    (tmp_path / "m.py").write_text(source)
    monkeypatch.chdir(tmp_path)
    code, out, err = invoke("check", "--strict", "--no-cache", "m.py")
    assert code == 1 and out == b""
    assert f"warning: m.py:{forward_lines(source)[0]}: SingleStreamAttention.forward: sites not found: " in err
    assert "defined inside the function make()" in err
    code, _, err = invoke("check", "--no-cache", "m.py")
    assert code == 0 and "defined inside the function make()" in err
