"""`.contiguous()` where tensors enter kernels: q, k and v of each attention call, and each linear's input.

The seed profile's insertions sit earlier in the forward, and later reshapes undo them (measured: the
two-speaker q and k reach `attention()` strided after the seed rewrite). Putting the call at the
boundary itself is what makes every kernel input contiguous; on an already contiguous tensor
`.contiguous()` returns the tensor itself, so it costs nothing there.

Attention calls are those of the entry-point table (`codemod.match.entry_points`); q, k and v are
its positional or keyword arguments, or, for an entry point that takes them packed
(`pay_attention(qkv_list)`), the elements of the list display the method builds, made contiguous
there: `qkv_list = [q.contiguous(), k.contiguous(), v.contiguous()]`.

`.contiguous()` goes only on expressions that are tensors: never on a list, tuple, dict, set,
string, number, `None`, bool, size or comprehension, nor on what a builtin such as `list()` or `int()`
returns, nor on a name that such a value may reach in the method (`codemod.match.bindings.value_kind`).
`a or b` may be a flag, so it never gets it. Whatever cannot be placed for certain is reported
`missing`, with the reason.

Where it goes. An argument that is a pure reordering of the dimensions of an expression `e`
(`e.transpose(i, j)`, `e.permute(...)`, as ComfyUI passes `q.transpose(1, 2)`) gets it on `e` --
`q.contiguous().transpose(1, 2)` -- when all of these hold:

- the entry point reads strides (`EntryPoint.reads_strides`: torch's sdpa, flash-attn, xformers,
  SageAttention, ComfyUI's `optimized_attention`): such a kernel needs a dense tensor with a unit last
  stride, not one in row-major order of the shape it is handed;
- the layout the call passes on has one dimension per axis (`B H L D` or `B L H D`, not
  `B L (H D)`, whose callee `.view`s its input into heads and needs it viewable);
- the reordering keeps the last dimension last (so the unit stride stays the last one), with literal
  dimensions that say so.

Then `e.contiguous()` is dense, its reordering is dense with a unit last stride, and when `e` is
already contiguous (ComfyUI's q, straight from a linear and a view) nothing is copied, where
`.contiguous()` on the transposed value would copy all of it (495 MB per forward for Wan 14B's q).
In every other case the value that enters the call is made contiguous itself: a kernel that reads
memory as if it were contiguous in the shape it is handed gets exactly that, and a contiguous value
is right for every kernel.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import cast

import libcst as cst
from libcst.metadata import PositionProvider

from codemod.match.bindings import Binding, MethodScan, Position, value_kind
from codemod.match.calls import linear_attributes
from codemod.match.chains import contiguous_of, dotted_name
from codemod.match.contiguous import is_contiguous_cst
from codemod.match.entry_points import TENSOR_NAMES, EntryPoint, Layout, find_entry_point
from codemod.match.sites import SiteInfo
from codemod.match.patterns import python_name
from codemod.match.targets import TargetMethod
from codemod.results import SiteStatus
from codemod.rewrite.engine import Profile, ScopedTransformer

ROLE = "boundary"
LINEAR_SITE = "boundary.linear-input"


def attention_site(tensor: str) -> str:
    return f"boundary.attention-{tensor}"


SITE_INFOS = (
    *(
        SiteInfo(
            attention_site(name), ROLE, f"{name} as it enters the attention call",
            "x = attention(q, k, v, attention_mode=m)",
            "x = attention(q.contiguous(), k.contiguous(), v.contiguous(), attention_mode=m)",
        )
        for name in TENSOR_NAMES
    ),
    SiteInfo(
        LINEAR_SITE, ROLE, "the input of each linear layer of the class",
        "x = self.proj(x.reshape(B * N_t, S, self.dim))",
        "x = self.proj(x.reshape(B * N_t, S, self.dim).contiguous())",
    ),
)

# Layouts with one dimension per axis, by their number of dimensions.
_SEPARATE_AXES: dict[Layout, int] = {"B L H D": 4, "B H L D": 4}
_TRANSPOSES = ("transpose", "swapaxes", "swapdims")
# Expressions that can take `.contiguous()` without parentheses.
_PRIMARY = (cst.Name, cst.Attribute, cst.Call, cst.Subscript)
_UNKNOWN = object()


def _made_contiguous(node: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(node, _PRIMARY) or node.lpar:
        return contiguous_of(node)
    return contiguous_of(node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()]))


def _integer(node: cst.BaseExpression) -> int | None:
    """The value of an integer literal, `-1` included."""
    if isinstance(node, cst.Integer):
        return int(node.value, 0)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        inner = _integer(node.expression)
        return None if inner is None else -inner
    return None


def _literal(node: cst.BaseExpression) -> object:
    """The value of a literal keyword argument (`True`, `"NHD"`, `2`); `_UNKNOWN` when not one."""
    if isinstance(node, cst.Name) and node.value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[node.value]
    if isinstance(node, cst.SimpleString):
        return node.evaluated_value
    number = _integer(node)
    return _UNKNOWN if number is None else number


def _dimensions(args: Sequence[cst.Arg]) -> list[int] | None:
    """Literal dimensions of `permute(0, 2, 1, 3)` / `permute((0, 2, 1, 3))` / `transpose(1, 2)`."""
    if any(arg.keyword is not None or arg.star for arg in args):
        return None
    values: Sequence[cst.BaseExpression] = [arg.value for arg in args]
    if len(values) == 1 and isinstance(values[0], (cst.Tuple, cst.List)):
        values = [element.value for element in values[0].elements if isinstance(element, cst.Element)]
    numbers = [_integer(value) for value in values]
    return None if any(number is None for number in numbers) else [number for number in numbers if number is not None]


def _reordering_base(node: cst.BaseExpression, rank: int) -> cst.BaseExpression | None:
    """`e` when `node` is `e.transpose(i, j)` / `e.permute(...)` of a `rank`-dimensional tensor, with
    literal dimensions that leave the last dimension last; else None."""
    if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)):
        return None
    dimensions = _dimensions(node.args)
    if dimensions is None or not all(-rank <= dimension < rank for dimension in dimensions):
        return None
    normal = [dimension % rank for dimension in dimensions]
    method = node.func.attr.value
    if method in _TRANSPOSES and len(normal) == 2 and rank - 1 not in normal:
        return node.func.value
    if method == "permute" and sorted(normal) == list(range(rank)) and normal[-1] == rank - 1:
        return node.func.value
    return None


@dataclass(frozen=True)
class _Placement:
    """Where one site's `.contiguous()` goes (`receiver`), or why it cannot go anywhere (`reason`)."""

    site: str
    anchor: cst.CSTNode
    status: SiteStatus
    receiver: cst.BaseExpression | None = None
    reason: str | None = None


class _Planner:
    """Decides every site of one method before anything is rewritten."""

    def __init__(self, scan: MethodScan, linears: frozenset[str], table: Sequence[EntryPoint]) -> None:
        self.scan = scan
        self.linears = linears
        self.table = table

    def not_a_tensor(self, node: cst.BaseExpression, loops: tuple[int, ...]) -> str | None:
        """Why `node` may not be a tensor: a display, constant or builtin's value, or a name such a value
        may reach (through other names, conditional expressions, unpacking and loops)."""
        if isinstance(node, cst.Name) and node.value not in ("None", "True", "False"):
            found = self.name_kind(node.value, self.scan.start(node), loops, set())
            if found is None:
                return None
            description, binding = found
            return f"`{node.value}` may be {description} (assigned at line {binding.line}), not a tensor"
        seen: set[tuple[str, Position]] = set()
        resolved: list[str] = []

        def resolve(name: cst.Name) -> str | None:
            held = self._resolved(name, loops, seen)
            if held is not None:
                resolved.append(held)
            return held

        kind = value_kind(node, resolve)
        if kind is None:
            return None
        certain = not resolved and not isinstance(node, (cst.IfExp, cst.BooleanOperation))
        return f"`{_code(node)}` {'is' if certain else 'may be'} {kind}, not a tensor"

    def _resolved(self, name: cst.Name, loops: tuple[int, ...], seen: set[tuple[str, Position]]) -> str | None:
        found = self.name_kind(name.value, self.scan.start(name), loops, seen)
        return None if found is None else found[0]

    def name_kind(
        self, name: str, position: Position, loops: tuple[int, ...], seen: set[tuple[str, Position]],
    ) -> tuple[str, Binding] | None:
        """What a binding of `name` that reaches `position` may hold that is not a tensor, and that binding."""
        for binding in self.scan.reaching(name, position, loops):
            if (name, binding.position) in seen:
                continue
            seen.add((name, binding.position))
            description = binding.known
            if description is None and binding.value is not None:
                loops_there = binding.loops
                description = value_kind(binding.value, lambda inner: self._resolved(inner, loops_there, seen))
            if description is not None:
                return description, binding
        return None

    def place(
        self, site: str, value: cst.BaseExpression, loops: tuple[int, ...], rank: int | None
    ) -> _Placement:
        """`.contiguous()` for one tensor argument: on the value, or on what a reordering of it starts from.

        `rank`: the number of dimensions when the entry point reads strides in a layout of separate
        axes, else None (the value itself must be contiguous).
        """
        receiver = value
        while rank is not None and not is_contiguous_cst(receiver):
            base = _reordering_base(receiver, rank)
            if base is None:
                break
            receiver = base
        for candidate in (value, receiver):
            if is_contiguous_cst(candidate):
                return _Placement(site, candidate, "present")
        reason = self.not_a_tensor(receiver, loops)
        if reason is not None:
            return _Placement(site, value, "missing", reason=reason)
        return _Placement(site, receiver, "inserted", receiver=receiver)

    def attention(self, call: cst.Call, entry: EntryPoint, loops: tuple[int, ...]) -> Iterator[_Placement]:
        name = dotted_name(call.func)
        literals = {python_name(arg.keyword.value): _literal(arg.value) for arg in call.args if arg.keyword is not None}
        layout = entry.layout_for(literals)
        rank = _SEPARATE_AXES.get(layout) if entry.reads_strides else None
        if any(arg.star for arg in call.args):
            for tensor in TENSOR_NAMES:
                yield _Placement(attention_site(tensor), call, "missing",
                                 reason=f"{name}(...) takes q, k, v through * or ** arguments")
            return
        positional = [arg.value for arg in call.args if arg.keyword is None]
        keywords = {python_name(arg.keyword.value): arg.value for arg in call.args if arg.keyword is not None}
        if entry.packed:
            yield from self.packed(call, entry, positional, keywords, loops, rank)
            return
        for index, tensor in enumerate(TENSOR_NAMES):
            keyword = entry.keywords[index] if index < len(entry.keywords) else None
            value = positional[index] if index < len(positional) else keywords.get(keyword or "")
            if value is None:
                yield _Placement(attention_site(tensor), call, "missing",
                                 reason=f"{name}(...) is not given its {tensor} argument")
            else:
                yield self.place(attention_site(tensor), value, loops, rank)

    def packed(
        self, call: cst.Call, entry: EntryPoint, positional: list[cst.BaseExpression],
        keywords: dict[str, cst.BaseExpression], loops: tuple[int, ...], rank: int | None,
    ) -> Iterator[_Placement]:
        """q, k, v as the elements of the list display that the packed argument is, or is bound to."""
        name = dotted_name(call.func)
        argument = positional[0] if positional else keywords.get(entry.keywords[0]) if entry.keywords else None
        elements: Sequence[cst.BaseElement] | None = None
        reason = f"{name}(...) is not given its list of q, k, v"
        element_loops = loops
        if isinstance(argument, (cst.List, cst.Tuple)):
            elements = argument.elements
        elif isinstance(argument, cst.Name):
            elements, element_loops, reason = self.list_binding(argument.value, call)
        elif argument is not None:
            reason = f"{name}(...) is given `{_code(argument)}`, not a list display or a name bound to one"
        if elements is not None and (
            len(elements) != len(TENSOR_NAMES) or not all(isinstance(element, cst.Element) for element in elements)
        ):
            reason = f"the list passed to {name}(...) does not have exactly three plain elements"
            elements = None
        if elements is None:
            for tensor in TENSOR_NAMES:
                yield _Placement(attention_site(tensor), call, "missing", reason=reason)
            return
        for tensor, element in zip(TENSOR_NAMES, elements):
            yield self.place(attention_site(tensor), element.value, element_loops, rank)

    def list_binding(
        self, name: str, call: cst.Call
    ) -> tuple[Sequence[cst.BaseElement] | None, tuple[int, ...], str]:
        """The elements of the one list display `name` is bound to in this method, before `call`."""
        bindings = self.scan.bindings.get(python_name(name), [])
        if not bindings:
            return None, (), f"`{name}` is not built in this method"
        if len(bindings) > 1:
            return None, (), f"`{name}` is bound {len(bindings)} times in this method: which list reaches the call?"
        (binding,) = bindings
        if not isinstance(binding.value, (cst.List, cst.Tuple)):
            return None, (), f"`{name}` is not bound to a list display in this method"
        if binding.position >= self.scan.start(call):
            return None, (), f"`{name}` is built after the call that takes it"
        changed = self.scan.changed.get(python_name(name))
        if changed is not None:
            return None, (), f"`{name}` is changed in this method (line {self.scan.start(changed)[0]})"
        return binding.value.elements, binding.loops, ""

    def linear(self, call: cst.Call, attribute: str, loops: tuple[int, ...]) -> _Placement:
        positional = [arg for arg in call.args if arg.keyword is None and not arg.star]
        keywords = [arg for arg in call.args if arg.keyword is not None and python_name(arg.keyword.value) == "input"]
        chosen = positional or keywords
        if not chosen or any(arg.star for arg in call.args):
            return _Placement(LINEAR_SITE, call, "missing", reason=f"self.{attribute}(...) is not given its input")
        return self.place(LINEAR_SITE, chosen[0].value, loops, None)

    def plan(self) -> list[_Placement]:
        placements: list[_Placement] = []
        for call, loops in self.scan.calls:
            name = dotted_name(call.func)
            if name is None:
                continue
            if name.startswith("self.") and name[len("self."):] in self.linears:
                placements.append(self.linear(call, name[len("self."):], loops))
                continue
            entry = find_entry_point(name, self.table)
            if entry is not None:
                placements.extend(self.attention(call, entry, loops))
        return placements


def _code(node: cst.BaseExpression) -> str:
    text = " ".join(cst.Module([]).code_for_node(node).split())
    return text if len(text) <= 40 else text[:37] + "..."


class BoundaryTransformer(ScopedTransformer):
    """Makes each tensor contiguous at the call that hands it to a kernel."""

    def __init__(
        self, targets: Sequence[tuple[TargetMethod, str]], entry_points: Sequence[EntryPoint]
    ) -> None:
        super().__init__(targets)
        self._entry_points = tuple(entry_points)
        self._linears = {
            id(target.node): linear_attributes((target.class_node, *target.ancestors)) for target, _ in targets
        }
        self._receivers: set[int] = set()

    def _start(self, node: cst.CSTNode) -> Position:
        position = self.get_metadata(PositionProvider, node).start
        return position.line, position.column

    def _end(self, node: cst.CSTNode) -> Position:
        position = self.get_metadata(PositionProvider, node).end
        return position.line, position.column

    def enter_target(self, target: TargetMethod) -> None:
        """Plan the whole method first: a packed list is rewritten where it is built, before its call."""
        linears = self._linears[id(target.node)]
        scan = MethodScan(self._start, self._end).scan(target.node)
        placements = _Planner(scan, linears, self._entry_points).plan()
        for placement in placements:
            if placement.receiver is not None and id(placement.receiver) in self._receivers:
                continue  # one list display handed to several calls gets its calls once
            self.record(placement.site, placement.anchor, placement.status, placement.reason)
            if placement.receiver is not None:
                self._receivers.add(id(placement.receiver))
        found = {placement.site for placement in placements}
        for info in SITE_INFOS:
            if info.id in found:
                continue
            if info.id != LINEAR_SITE:
                reason = ("no call of an attention entry point in this method "
                          "(declare your own in tool.contiguify.entry-points)")
            elif linears:
                reason = "no linear layer of the class is called in this method"
            else:
                reason = "the class assigns no linear layer in __init__"
            self.record(info.id, target.node, "missing", reason)

    def on_leave(
        self, original_node: cst.CSTNodeT, updated_node: cst.CSTNodeT
    ) -> cst.CSTNodeT | cst.RemovalSentinel | cst.FlattenSentinel[cst.CSTNodeT]:
        result = super().on_leave(original_node, updated_node)
        if id(original_node) in self._receivers and isinstance(result, cst.BaseExpression):
            # An expression takes the place of an expression; the type parameter cannot say so.
            return cast(cst.CSTNodeT, _made_contiguous(result))
        return result


class BoundaryProfile(Profile):
    """`.contiguous()` on every tensor at the kernel boundary, nowhere else."""

    name = "boundary"
    summary = "q, k, v at each attention call and each linear layer's input, made contiguous where they enter"

    def sites(self) -> tuple[SiteInfo, ...]:
        return SITE_INFOS

    def role_of(self, target: TargetMethod) -> str:
        return ROLE

    def transformer(
        self, targets: Sequence[tuple[TargetMethod, str]], entry_points: Sequence[EntryPoint]
    ) -> ScopedTransformer:
        return BoundaryTransformer(targets, entry_points)


PROFILE = BoundaryProfile()
