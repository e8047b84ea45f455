"""Runs one profile over the target methods of a module and collects what it did, site by site."""

from __future__ import annotations

import ast
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import ClassVar, cast

import libcst as cst
from libcst.metadata import CodePosition, CodeRange, MetadataWrapper, PositionProvider

from codemod.decoding import LINE_END
from codemod.guards import python_tree
from codemod.match.entry_points import ENTRY_POINTS, EntryPoint
from codemod.match.patterns import TargetPattern
from codemod.match.sites import SiteInfo
from codemod.match.targets import TargetMethod, find_targets
from codemod.match.visitors import NoFieldHooks
from codemod.results import SiteResult, SiteStatus, TargetResult
from codemod.rewrite.slices import module_slice, put_back


class ScopedTransformer(NoFieldHooks, cst.CSTTransformer):
    """Base of every profile's transformer: knows which target method it is in and records sites.

    Nested functions, lambdas and classes inside a target method are not part of it and are skipped.
    """

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, targets: Sequence[tuple[TargetMethod, str]]) -> None:
        super().__init__()
        self._roles = {id(target.node): (target, role) for target, role in targets}
        # The `if` / `try` / `with` ... statements and the classes that lead to a target method.
        self._containers = {id(container) for target, _ in targets
                            for container in (*target.containers, *target.enclosing_classes, target.class_node)}
        self._records: dict[int, list[SiteResult]] = {
            id(target.node): [] for target, _ in targets
        }
        self._lines: dict[int, int] = {}
        self.current: TargetMethod | None = None
        self.role = ""

    def on_visit(self, node: cst.CSTNode) -> bool:
        """Outside target methods only the statements that lead to one are entered."""
        if (
            self.current is None
            and isinstance(node, cst.BaseStatement)
            and id(node) not in self._roles
            and id(node) not in self._containers
        ):
            return False
        return super().on_visit(node)

    def enter_target(self, target: TargetMethod) -> None:
        """Hook for per-method state; called when the transformer enters a target method."""

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        if self.current is not None:
            return False
        entry = self._roles.get(id(node))
        if entry is not None:
            self.current, self.role = entry
            self._lines[id(node)] = self.line_of(node) or 0
            self.enter_target(self.current)
        return True

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        if self.current is not None and original_node is self.current.node:
            self.current = None
        return updated_node

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return self.current is None

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return self.current is None

    def line_of(self, node: cst.CSTNode) -> int | None:
        position = self.get_metadata(PositionProvider, node, None)
        return None if position is None else position.start.line

    def record(self, site_id: str, node: cst.CSTNode, status: SiteStatus, reason: str | None = None) -> None:
        assert self.current is not None
        self._records[id(self.current.node)].append(SiteResult(site_id, self.line_of(node), status, reason))

    def results(self, profile: Profile) -> tuple[TargetResult, ...]:
        reports = []
        for node_id, (target, role) in self._roles.items():
            found = self._records[node_id]
            sites: list[SiteResult] = []
            for info in profile.sites_for(role):
                hits = [site for site in found if site.id == info.id]
                sites.extend(hits or [SiteResult(info.id, None, "missing")])
            reports.append(
                TargetResult(
                    class_name=target.class_name,
                    method=target.method_name,
                    line=self._lines.get(node_id, 0),
                    role=role,
                    sites=tuple(sites),
                )
            )
        return tuple(reports)


class Profile(ABC):
    """A set of insertion sites and the transformer that finds them."""

    name: ClassVar[str]
    summary: ClassVar[str]

    @abstractmethod
    def sites(self) -> tuple[SiteInfo, ...]:
        """Every site of this profile, in the order they appear in a target method."""

    def sites_for(self, role: str) -> tuple[SiteInfo, ...]:
        return tuple(site for site in self.sites() if site.role == role)

    @abstractmethod
    def role_of(self, target: TargetMethod) -> str:
        """Which of the profile's site sets applies to this method."""

    @abstractmethod
    def transformer(
        self, targets: Sequence[tuple[TargetMethod, str]], entry_points: Sequence[EntryPoint]
    ) -> ScopedTransformer:
        """A fresh transformer for one module, which knows the attention calls of `entry_points`."""


def rewrite_module_source(
    source: str, profile: Profile, patterns: Sequence[TargetPattern], entry_points: Sequence[EntryPoint] = ENTRY_POINTS
) -> tuple[str, tuple[TargetResult, ...]]:
    """Rewrite `source` (no BOM); raises libcst's ParserSyntaxError when it does not parse.

    libcst reads only the slice of the module that holds target classes (`codemod.rewrite.slices`),
    where there is one; its rewrite is put back into the other lines.
    """
    parsed, restore = _for_libcst(source)
    tree = python_tree(source)
    piece = None if tree is None else module_slice(parsed, tree, patterns)
    if piece is not None:
        done = _rewrite_module(piece.text, piece.tree, profile, patterns, entry_points)
        if done is None:
            return source, ()
        whole = put_back(piece, done[0])
        if whole is not None:
            return restore(whole), done[1]
    done = _rewrite_module(parsed, tree, profile, patterns, entry_points)
    return (source, ()) if done is None else (restore(done[0]), done[1])


def _rewrite_module(
    parsed: str, tree: ast.Module | None, profile: Profile, patterns: Sequence[TargetPattern],
    entry_points: Sequence[EntryPoint],
) -> tuple[str, tuple[TargetResult, ...]] | None:
    """libcst's rewrite of `parsed` (as `_for_libcst` gives it), `tree` being `ast`'s tree of it, if any;
    None when it has no target method."""
    module = cst.parse_module(parsed)
    found = find_targets(module, patterns, tree)
    if not found:
        return None
    targets = [target for target in found if target.enclosing_function is None]
    transformer = profile.transformer([(target, profile.role_of(target)) for target in targets], entry_points)
    positions = _positions(module, found)
    transformer.metadata = {PositionProvider: positions}
    new_module = module.visit(transformer)
    results = transformer.results(profile)
    if len(targets) < len(found):
        results = tuple(sorted(
            (*results, *(_out_of_reach(target, profile, positions[target.node].start.line)
                         for target in found if target.enclosing_function is not None)),
            key=lambda result: result.line,
        ))
    return new_module.code, results


class _Shifted(Mapping[cst.CSTNode, CodeRange]):
    """Positions computed for each method on its own, moved down to the method's line in the module."""

    def __init__(self, parts: Sequence[tuple[Mapping[cst.CSTNode, CodeRange], int]]) -> None:
        self._parts = parts

    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        for positions, shift in self._parts:
            found = positions.get(node)
            if found is not None:
                return CodeRange(CodePosition(found.start.line + shift, found.start.column),
                                 CodePosition(found.end.line + shift, found.end.column))
        raise KeyError(node)

    def __iter__(self) -> Iterator[cst.CSTNode]:
        for positions, _ in self._parts:
            yield from positions

    def __len__(self) -> int:
        return sum(len(positions) for positions, _ in self._parts)


def _positions(module: cst.Module, targets: Sequence[TargetMethod]) -> Mapping[cst.CSTNode, CodeRange]:
    """The positions of the nodes of the target methods, which are all a profile asks for.

    libcst computes positions by generating the code of the whole module (and walking it once more),
    which costs more than the rest of a rewrite; each method's own code is enough, once its line is
    known (from `ast`). Columns on a method's first lines are then relative to its indentation, which
    keeps their order on each line. Without the lines, the whole module is resolved.
    """
    if any(target.line is None for target in targets):
        return MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    parts = []
    for target in targets:
        positions = _method_positions(target.node, module)
        assert target.line is not None
        parts.append((positions, target.line - positions[target.node].start.line))
    return _Shifted(parts)


def _method_positions(method: cst.FunctionDef, module: cst.Module) -> Mapping[cst.CSTNode, CodeRange]:
    """What PositionProvider gives for `method` alone, generating its code once.

    Through `MetadataWrapper` the provider also walks the whole tree once more, for nothing, which
    costs as much again; so the method's code is generated into the provider's own state, as the
    provider itself does, where this libcst has that state (else through the wrapper).
    """
    try:
        from libcst.metadata.position_provider import PositionProvidingCodegenState

        provider = PositionProvider()
        state = PositionProvidingCodegenState(default_indent=module.default_indent,
                                              default_newline=module.default_newline, provider=provider)
        method._codegen(state)
        return cast(Mapping[cst.CSTNode, CodeRange], provider._computed)
    except (ImportError, AttributeError, TypeError):  # pragma: no cover - another libcst's internals
        alone = cst.Module(body=[method], default_indent=module.default_indent, default_newline=module.default_newline)
        return MetadataWrapper(alone, unsafe_skip_copy=True).resolve(PositionProvider)


# Indentation up to its last form feed: Python counts the columns after it alone.
_FORM_FEED_INDENT = re.compile(r"[ \t\f]*\f")


def _for_libcst(source: str) -> tuple[str, Callable[[str], str]]:
    """`source` as libcst gives it back byte for byte, and what puts the rest back into its output.

    libcst 1.x loses two things that Python accepts: a final line end that is a lone `\r` (a file
    with old Mac line ends), and form feeds in a line's indentation (it drops them, or copies them
    to the next lines). Lines keep their number through a rewrite (insertions add no line), so the
    indentation taken off each line goes back on the same line.
    """
    final = "\r" if source.endswith("\r") else ""
    body = source[:len(source) - len(final)]
    if "\f" not in body:
        return body, lambda code: code + final
    parts = LINE_END.split(body)  # lines at even indexes, their ends between them
    taken: dict[int, str] = {}
    for index in range(0, len(parts), 2):
        match = _FORM_FEED_INDENT.match(parts[index])
        if match is not None:
            taken[index] = match.group()
            parts[index] = parts[index][match.end():]

    def restore(code: str) -> str:
        lines = LINE_END.split(code)
        if len(lines) != len(parts):  # not a rewrite of these lines: left for the insertions-only check to refuse
            return code + final
        for index, prefix in taken.items():
            lines[index] = prefix + lines[index]
        return "".join(lines) + final

    return "".join(parts), restore


def _out_of_reach(target: TargetMethod, profile: Profile, line: int) -> TargetResult:
    """A target method in a class that a function defines: every site missing, with the reason."""
    assert target.enclosing_function is not None
    function = target.enclosing_function.name.value
    reason = f"its class is defined inside the function {function}(), which contiguify does not rewrite"
    role = profile.role_of(target)
    sites = tuple(SiteResult(info.id, None, "missing", reason) for info in profile.sites_for(role))
    return TargetResult(target.class_name, target.method_name, line, role, sites)
