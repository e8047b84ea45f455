"""Stand-ins for modules that cannot be imported here, and reference kernels for the attention entry points.

A stub is neutral wherever upstream code touches a missing library at import time or outside the
forward under test: it is an attribute source (any attribute is another stub), a base class (an
`nn.Module` that takes any arguments), a decorator (it hands the function back), a context manager,
and a callable (a tensor argument comes back unchanged, as from a one-process collective; anything
else gives another stub, which is false, zero and empty: an empty mapping that forgets what is stored in
it, a number whose arithmetic gives another stub). A stubbed name that is an attention entry
point (`xformers.ops.memory_efficient_attention`, `pay_attention`, `FusedSDPA.apply`, ...) is instead
served by `reference_attention`: PyTorch's sdpa in the entry point's own layout, so forwards produce
real tensors on CPU and correct shapes on the meta device.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch

from codemod.match.entry_points import ENTRY_POINTS, TENSOR_NAMES, EntryPoint, Layout, find_entry_point


def entry_tensors(entry: EntryPoint, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """q, k, v of one call of `entry`, by name: packed in the first argument, positional, or by keyword."""
    if entry.packed:
        packed = args[0] if args else next(iter(kwargs.values()), ())
        return dict(zip(TENSOR_NAMES, list(packed)[: len(TENSOR_NAMES)]))
    found = dict(zip(TENSOR_NAMES, args))
    for name, keyword in zip(TENSOR_NAMES, entry.keywords):
        if keyword in kwargs:
            found[name] = kwargs[keyword]
    return found


def _to_bhld(tensor: torch.Tensor, layout: Layout, heads: int | None) -> torch.Tensor:
    if layout == "B H L D":
        return tensor
    if layout == "B L H D":
        return tensor.transpose(1, 2)
    if heads is None:
        raise TypeError("an attention call in layout B L (H D) needs heads=")
    batch, length, width = tensor.shape
    return tensor.reshape(batch, length, heads, width // heads).transpose(1, 2)


def _from_bhld(tensor: torch.Tensor, layout: Layout) -> torch.Tensor:
    if layout == "B L H D":
        tensor = tensor.transpose(1, 2)
    elif layout == "B L (H D)":
        tensor = tensor.transpose(1, 2).flatten(2)
    return tensor.contiguous()


def _output_layout(entry: EntryPoint, layout: Layout, kwargs: Mapping[str, Any]) -> Layout:
    """Outputs come back in the input layout, except ComfyUI's: [B, L, H·D] unless `skip_output_reshape`."""
    if entry.label == "comfyui":
        return "B H L D" if kwargs.get("skip_output_reshape") else "B L (H D)"
    return layout


def reference_attention(entry: EntryPoint) -> Callable[..., torch.Tensor]:
    """What a stubbed `entry` computes: softmax(q kᵀ / √d) v with PyTorch sdpa, masks and biases ignored."""

    def attention(*args: Any, **kwargs: Any) -> torch.Tensor:
        tensors = entry_tensors(entry, args, kwargs)
        if not all(isinstance(tensors.get(name), torch.Tensor) for name in TENSOR_NAMES):
            raise TypeError(f"reference {entry.label} attention: q, k and v must be tensors")
        layout = entry.layout_for(kwargs)
        heads = kwargs.get("heads")
        q, k, v = (_to_bhld(tensors[name], layout, heads) for name in TENSOR_NAMES)
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        return _from_bhld(out, _output_layout(entry, layout, kwargs))

    attention.__name__ = attention.__qualname__ = f"reference_{entry.label.replace('-', '_')}_attention"
    return attention


def stubbed_entry_point(dotted: str, table: Sequence[EntryPoint]) -> EntryPoint | None:
    """The entry point a stubbed name is, matched on its tail as code writes it (`FusedSDPA.apply`)."""
    parts = dotted.split(".")
    for start in range(len(parts)):
        entry = find_entry_point(".".join(parts[start:]), table)
        if entry is not None:
            return entry
    return None


def stub_attribute(dotted: str, table: Sequence[EntryPoint]) -> object:
    """The value of a name below a stub: a reference kernel for an entry point, else another stub."""
    entry = stubbed_entry_point(dotted, table)
    return reference_attention(entry) if entry is not None else Stub(dotted, table)


class StubBase(torch.nn.Module):
    """What a stub becomes as a base class (`class AudioProjModel(ModelMixin, ConfigMixin)`): a module taking anything."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__()


class Stub:
    """A name from a module that is not installed here; see the module's docstring for what it does."""

    def __init__(self, name: str, table: Sequence[EntryPoint] = ENTRY_POINTS) -> None:
        self._stub_name = name
        self._stub_table = table

    def __getattr__(self, attribute: str) -> object:
        if attribute.startswith("__") or attribute.startswith("_stub_"):
            raise AttributeError(attribute)
        value = stub_attribute(f"{self._stub_name}.{attribute}", self._stub_table)
        setattr(self, attribute, value)  # the same object on every access, so it can be patched and restored
        return value

    def get(self, key: object, default: object = None) -> object:
        """As an empty mapping: the default (Wan2GP's `offload.get_cache(name).get(key, None)`, a cache to fill)."""
        return default

    def __setitem__(self, key: object, value: object) -> None:
        """Writes into it are forgotten, as into a cache that keeps nothing."""

    def __call__(self, *args: Any, **kwargs: Any) -> object:
        if len(args) == 1 and not kwargs and callable(args[0]) and not isinstance(args[0], Stub):
            return args[0]  # used as a decorator
        if args and isinstance(args[0], torch.Tensor):
            return args[0]
        return Stub(f"{self._stub_name}()", self._stub_table)

    def __mro_entries__(self, bases: tuple[object, ...]) -> tuple[type, ...]:
        """One `StubBase` per class statement, and none beside a real `nn.Module` base (its MRO must stay valid)."""
        if any(isinstance(base, type) and issubclass(base, torch.nn.Module) for base in bases):
            return ()
        if next(base for base in bases if isinstance(base, Stub)) is not self:
            return ()
        return (types.new_class(self._stub_name.rpartition(".")[2], (StubBase,)),)

    def __enter__(self) -> Stub:
        return self

    def __exit__(self, *exception: object) -> None:
        return None

    def __bool__(self) -> bool:
        return False

    def __len__(self) -> int:
        return 0

    def __iter__(self) -> Iterator[object]:
        return iter(())

    def __index__(self) -> int:
        return 0

    def __int__(self) -> int:
        return 0

    def __float__(self) -> float:
        return 0.0

    def __repr__(self) -> str:
        return f"<stub {self._stub_name}>"

    def __format__(self, spec: str) -> str:
        """Formatted as the zero it stands for (`"{:0.0f} MB".format(psutil.virtual_memory().total)`)."""
        try:
            return format(0.0, spec)
        except ValueError:
            return format(repr(self), spec)

    def _arithmetic(self, *other: object) -> Stub:
        return Stub(f"{self._stub_name}(...)", self._stub_table)

    # Arithmetic on a stub (a missing library's number: total memory, a version) is another stub;
    # comparisons with it are false.
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _arithmetic
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = __pow__ = __rpow__ = _arithmetic
    __neg__ = __pos__ = __abs__ = _arithmetic

    def __lt__(self, other: object) -> bool:
        return False

    __le__ = __gt__ = __ge__ = __lt__


class StubModule(types.ModuleType):
    """A module that is not installed here: a package of stubs, so `import a.b.c` and `from a.b import c` work."""

    def __init__(self, name: str, table: Sequence[EntryPoint] = ENTRY_POINTS) -> None:
        super().__init__(name)
        self.__path__: list[str] = []
        self._stub_table = table

    def __getattr__(self, attribute: str) -> object:
        if attribute.startswith("__") or attribute.startswith("_stub_"):
            raise AttributeError(attribute)
        value = stub_attribute(f"{self.__name__}.{attribute}", self._stub_table)
        setattr(self, attribute, value)
        return value
