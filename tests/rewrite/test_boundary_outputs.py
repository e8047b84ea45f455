"""Every boundary rewrite of every fixture case puts `.contiguous()` only on tensors, where they enter a kernel.

The check reads the syntax trees with `ast`, not with the profile's code: it finds the calls the
rewrite inserted by walking input and output together, and accepts one only where the receiver is
q, k or v of an entry-point call (the argument itself, what a chain of dimension reorderings of it
starts from, or an element of the list a packed entry point takes) or the input of one of the
class's linear layers, and the receiver is no display, literal or comprehension, nor a name the
method binds to one. Cases are found by glob, so cases added later are checked too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence

import pytest

from codemod.match.entry_points import ENTRY_POINTS, TENSOR_NAMES, EntryPoint, dotted_name_ast, find_entry_point
from codemod.rewrite.file import rewrite
from fixtures.catalog import Case, cases

NON_TENSORS = (
    ast.List, ast.Tuple, ast.Set, ast.Dict, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
    ast.Constant, ast.JoinedStr, ast.Lambda,
)
REORDERINGS = ("transpose", "permute", "swapaxes", "swapdims")


def _is_contiguous(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "contiguous"


def inserted_calls(old: ast.AST, new: ast.AST) -> Iterator[ast.Call]:
    """`.contiguous()` calls of `new` with no counterpart in `old` (the trees are otherwise alike)."""
    while _is_contiguous(new) and not _is_contiguous(old):
        assert isinstance(new, ast.Call) and isinstance(new.func, ast.Attribute)
        yield new
        new = new.func.value
    assert type(old) is type(new), f"{ast.dump(old)[:80]} / {ast.dump(new)[:80]}"
    for (_, old_value), (_, new_value) in zip(ast.iter_fields(old), ast.iter_fields(new)):
        olds = old_value if isinstance(old_value, list) else [old_value]
        news = new_value if isinstance(new_value, list) else [new_value]
        assert len(olds) == len(news)
        for old_item, new_item in zip(olds, news):
            if isinstance(old_item, ast.AST):
                yield from inserted_calls(old_item, new_item)


def _own_nodes(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.AST]:
    """The nodes of a function's body, nested functions, lambdas and classes left out."""
    pending: list[ast.AST] = list(function.body)
    while pending:
        node = pending.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                pending.append(child)


def _linear_layers(tree: ast.Module) -> set[str]:
    """`X` of every `self.X = <...>Linear(...)` in the module."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            callee = dotted_name_ast(node.value.func) or ""
            for target in node.targets:
                if (isinstance(target, ast.Attribute) and dotted_name_ast(target.value) == "self"
                        and callee.endswith("Linear")):
                    found.add(target.attr)
    return found


def _list_elements(node: ast.expr | None, function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.expr]:
    """The elements of a list display, or of every list display a name is assigned in `function`."""
    if isinstance(node, (ast.List, ast.Tuple)):
        return list(node.elts)
    found: list[ast.expr] = []
    if isinstance(node, ast.Name):
        for statement in _own_nodes(function):
            if (
                isinstance(statement, ast.Assign)
                and isinstance(statement.value, (ast.List, ast.Tuple))
                and any(isinstance(target, ast.Name) and target.id == node.id for target in statement.targets)
            ):
                found.extend(statement.value.elts)
    return found


def boundary_expressions(
    function: ast.FunctionDef | ast.AsyncFunctionDef, linears: set[str], table: Sequence[EntryPoint] = ENTRY_POINTS
) -> list[ast.expr]:
    """Expressions of `function` that enter a kernel: q, k, v of entry-point calls and linear inputs."""
    found: list[ast.expr] = []
    for call in (node for node in _own_nodes(function) if isinstance(node, ast.Call)):
        name = dotted_name_ast(call.func)
        if name is None:
            continue
        keywords = {keyword.arg: keyword.value for keyword in call.keywords if keyword.arg is not None}
        if name.startswith("self.") and name[len("self."):] in linears:
            found.extend(call.args[:1] or [keywords[key] for key in ("input",) if key in keywords])
            continue
        entry = find_entry_point(name, table)
        if entry is None:
            continue
        if entry.packed:
            packed = call.args[0] if call.args else keywords.get(entry.keywords[0]) if entry.keywords else None
            found.extend(_list_elements(packed, function))
            continue
        found.extend(call.args[: len(TENSOR_NAMES)])
        found.extend(keywords[key] for key in entry.keywords[len(call.args):] if key in keywords)
    return found


def _reordering_roots(expression: ast.expr) -> Iterator[ast.expr]:
    """`expression`, and what each chain of dimension reorderings in it starts from."""
    yield expression
    while (
        isinstance(expression, ast.Call)
        and isinstance(expression.func, ast.Attribute)
        and expression.func.attr in REORDERINGS
    ):
        expression = expression.func.value
        yield expression


def _names_bound_to_non_tensors(function: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, int]:
    """Names the function assigns a display, comprehension or string (name -> line)."""
    found: dict[str, int] = {}
    for node in _own_nodes(function):
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
            value = node.value
            if isinstance(value, NON_TENSORS) and not (isinstance(value, ast.Constant) and value.value is None):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        found.setdefault(target.id, node.lineno)
    return found


def problems(source: str, output: str, table: Sequence[EntryPoint] = ENTRY_POINTS) -> list[str]:
    """Every inserted `.contiguous()` of `output` that is not on a tensor at a kernel boundary, described."""
    old_tree, new_tree = ast.parse(source.removeprefix("\ufeff")), ast.parse(output.removeprefix("\ufeff"))
    calls = list(inserted_calls(old_tree, new_tree))
    parents = {id(child): parent for parent in ast.walk(new_tree) for child in ast.iter_child_nodes(parent)}
    linears = _linear_layers(new_tree)
    found = []
    for call in calls:
        assert isinstance(call.func, ast.Attribute)
        receiver = call.func.value
        where = f"line {call.lineno}: `{ast.unparse(call)}`"
        function = parents.get(id(call))
        while function is not None and not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = parents.get(id(function))
        if function is None:
            found.append(f"{where}: outside any method")
            continue
        if isinstance(receiver, NON_TENSORS):
            found.append(f"{where}: on a {type(receiver).__name__}, not a tensor")
        if isinstance(receiver, ast.Name) and receiver.id in (bound := _names_bound_to_non_tensors(function)):
            found.append(f"{where}: `{receiver.id}` is bound to a non-tensor at line {bound[receiver.id]}")
        boundary = {id(root) for expression in boundary_expressions(function, linears, table)
                    for root in _reordering_roots(expression)}
        if id(call) not in boundary:
            found.append(f"{where}: not an argument that enters a kernel")
    return found


@pytest.mark.parametrize("case", cases(), ids=lambda case: case.name)
def test_boundary_output_puts_contiguous_only_on_tensors_entering_kernels(case: Case) -> None:
    """Each case with the entry points of its checkout, as `contiguify fix` would rewrite it there."""
    result = rewrite(case.source.read_bytes(), "boundary", entry_points=case.entry_points)
    assert result.old is not None and result.new is not None, result.error
    text, output = result.old.decode("utf-8"), result.new.decode("utf-8")
    assert problems(text, output, case.entry_points) == []


def test_cases_are_found() -> None:
    assert cases()


WAN2GP = """\
class SingleStreamAttention:
    def __init__(self):
        self.q_linear = nn.Linear(4, 4)

    def forward(self, x):
        q = self.q_linear(x)
        qkv_list = [q, encoder_k, encoder_v]
        q = encoder_k = encoder_v = None
        x = pay_attention(qkv_list)
        mask = None
        return x
"""

# Rewrites the check must reject: (description, the rewrite of WAN2GP, the problem it must name).
WRONG = [
    pytest.param(
        WAN2GP.replace("pay_attention(qkv_list)", "pay_attention(qkv_list.contiguous())"),
        "`qkv_list` is bound to a non-tensor at line 7", id="list-name",
    ),
    pytest.param(
        WAN2GP.replace("[q, encoder_k, encoder_v]", "[q, encoder_k, encoder_v].contiguous()"),
        "on a List, not a tensor", id="list-display",
    ),
    pytest.param(
        WAN2GP.replace("mask = None", "mask = None.contiguous()"), "on a Constant, not a tensor", id="constant",
    ),
    pytest.param(
        WAN2GP.replace("q = self.q_linear(x)", "q = self.q_linear(x).contiguous()"),
        "not an argument that enters a kernel", id="not-at-a-boundary",
    ),
    pytest.param(
        WAN2GP.replace("return x", "return x.contiguous()"), "not an argument that enters a kernel",
        id="return-value",
    ),
]


@pytest.mark.parametrize(("output", "problem"), WRONG)
def test_the_check_rejects_wrong_rewrites(output: str, problem: str) -> None:
    assert any(problem in found for found in problems(WAN2GP, output)), problems(WAN2GP, output)


def test_the_check_accepts_the_right_rewrite_of_the_list_form() -> None:
    elements = "[q.contiguous(), encoder_k.contiguous(), encoder_v.contiguous()]"
    right = WAN2GP.replace("[q, encoder_k, encoder_v]", elements).replace("self.q_linear(x)", "self.q_linear(x.contiguous())")
    assert problems(WAN2GP, right) == []
