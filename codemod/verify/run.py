"""Runs a file's target forwards, original against rewritten, and says per target and scenario whether they agree.

Both variants are imported side by side through `codemod.model.load` (inside the file's checkout when
it has one, stubbing only what is not installed), each target class is built twice with the same
seeded weights, and every scenario its forward has gets the same seeded inputs. On CUDA the device is
synchronised after every attention entry point and linear layer, so a kernel fault is reported with
the call and line that launched it, not at some later line where CUDA happens to notice it. Forwards
run eagerly (see `codemod.model.load`).
"""

from __future__ import annotations

import functools
import sys
import traceback
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import torch

from codemod.match.entry_points import ENTRY_POINTS, EntryPoint
from codemod.model.build import BuildError, build, torch_dtype
from codemod.model.load import LoadError, load, replaced
from codemod.model.record import entry_point_targets
from codemod.model.scenarios import forward_inputs, run_forward, scenarios, undriven
from codemod.model.shape import SINGLE, SMALL, Scenario, Shape
from codemod.model.variants import ORIGINAL, Variant
from codemod.results import FileResult
from codemod.verify.outcome import FileVerification, ScenarioRun, TargetRuns

SEED = 0
UNLOADED = "all"  # the scenario name of a run that could not start because the file did not import
ONE_FRAME = "1-frame"  # suffix of a scenario run on one latent frame, tried when the original raised in every one


class KernelFault(RuntimeError):
    """A device error that surfaced when the device was synchronised right after one kernel call."""


def _error_text(error: BaseException, module_file: str | None) -> str:
    """`Type: message`, and the innermost line of the file under test the error passed through."""
    text = f"{type(error).__name__}: {error}".strip()
    if module_file is not None and not isinstance(error, KernelFault):
        lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__) if frame.filename == module_file]
        if lines:
            text += f" (line {lines[-1]})"
    return text


def _bitwise_equal(before: torch.Tensor, after: torch.Tensor) -> bool:
    """Same bytes: NaNs with the same payload count as equal, unlike `torch.equal`."""
    if before.dtype == torch.bool:
        return torch.equal(before, after)
    return torch.equal(before.contiguous().view(torch.uint8), after.contiguous().view(torch.uint8))


def compare(scenario: str, before: torch.Tensor | BaseException, after: torch.Tensor | BaseException,
            before_file: str | None = None, after_file: str | None = None) -> ScenarioRun:
    """The run's status from what the original (`before`) and the rewrite (`after`) returned or raised.

    `before_file`, `after_file`: the files the two modules run from, to name the line an error came from.
    """
    if isinstance(before, BaseException) and isinstance(after, BaseException):
        if f"{type(before).__name__}: {before}" == f"{type(after).__name__}: {after}":
            return ScenarioRun(scenario, "same-error", _error_text(after, after_file))
        return ScenarioRun(scenario, "new-error", f"{_error_text(after, after_file)}; the original raised "
                                                  f"{_error_text(before, before_file)}")
    if isinstance(after, BaseException):
        return ScenarioRun(scenario, "new-error", _error_text(after, after_file))
    if isinstance(before, BaseException):
        return ScenarioRun(scenario, "differs",
                           f"the original raised {_error_text(before, before_file)}; the rewrite did not")
    if before.shape != after.shape or before.dtype != after.dtype:
        return ScenarioRun(scenario, "differs", f"original {tuple(before.shape)} {before.dtype}, "
                                                f"rewritten {tuple(after.shape)} {after.dtype}")
    if _bitwise_equal(before, after):
        return ScenarioRun(scenario, "equal")
    difference = (after.double() - before.double()).abs().nan_to_num(nan=float("inf")).max().item()
    return ScenarioRun(scenario, "differs", max_abs_diff=difference)


def _caller_line(module_file: str | None) -> int | None:
    """The line of the file under test that is running now (the call that launched the kernel)."""
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename == module_file:
            return frame.f_lineno
        frame = frame.f_back
    return None


def _synchronise(device: torch.device, what: str, line: int | None) -> None:
    """Wait for the kernels launched so far; a fault they hit is raised here, naming `what` launched it."""
    try:
        torch.cuda.synchronize(device)
    except Exception as error:
        where = f" at line {line}" if line is not None else ""
        raise KernelFault(f"{type(error).__name__}: {error} (raised by {what}{where})") from error


def _synchronising(call: Callable[..., Any], what: str, module_file: str | None,
                   device: torch.device) -> Callable[..., Any]:
    @functools.wraps(call)
    def synchronised(*args: Any, **kwargs: Any) -> Any:
        line = _caller_line(module_file)
        result = call(*args, **kwargs)
        _synchronise(device, what, line)
        return result

    return synchronised


@contextmanager
def synchronised_kernels(module: types.ModuleType, model: torch.nn.Module, device: torch.device,
                         entry_points: Sequence[EntryPoint] = ENTRY_POINTS) -> Iterator[None]:
    """On CUDA, synchronise after each call of `entry_points` in `module` and each linear layer of `model`."""
    if device.type != "cuda":
        yield
        return
    with ExitStack() as stack:
        for target in entry_point_targets(module, entry_points):
            original = getattr(target.owner, target.attribute)
            wrapper = _synchronising(original, f"the {target.dotted}() call", module.__file__, device)
            stack.enter_context(replaced(target.owner, target.attribute, wrapper))
        for name, layer in model.named_modules():
            if isinstance(layer, torch.nn.Linear):
                def after_linear(layer: torch.nn.Module, args: Any, output: Any, name: str = name) -> None:
                    _synchronise(device, f"the linear layer {name}", _caller_line(module.__file__))

                stack.callback(layer.register_forward_hook(after_linear).remove)
        yield


def _attempt(run: Callable[[], torch.Tensor]) -> torch.Tensor | BaseException:
    try:
        return run()
    except Exception as error:  # noqa: BLE001 - any failure is an outcome to compare
        return error


def _target_runs(modules: Sequence[types.ModuleType], class_name: str, method: str, shape: Shape,
                 device: torch.device, dtype: torch.dtype, entry_points: Sequence[EntryPoint]) -> list[TargetRuns]:
    """The runs of one target: the original (`modules[0]`) against each rewrite, one `TargetRuns` per rewrite.

    The original is built and run once per scenario; every rewrite gets its weights and the same inputs.
    """
    def unverifiable(reason: str, scenario: str = UNLOADED) -> list[TargetRuns]:
        return [TargetRuns(class_name, method, (ScenarioRun(scenario, "unverifiable", reason),))
                for _ in modules[1:]]

    if method != "forward":
        return unverifiable(f"only forward methods are run, not {method}")
    found = [getattr(module, class_name, None) for module in modules]
    classes = [cls for cls in found if isinstance(cls, type) and issubclass(cls, torch.nn.Module)]
    if len(classes) != len(found):
        return unverifiable(f"{class_name} is not a torch.nn.Module class at module level")
    reason = undriven(classes[0])
    if reason is not None:
        return unverifiable(f"cannot drive it: {reason}")
    runs: list[list[ScenarioRun]] = [[] for _ in modules[1:]]
    originals = [_run_scenario(modules, classes, scenario, scenario.name, shape, device, dtype, entry_points, runs)
                 for scenario in scenarios(classes[0])]
    if originals and all(isinstance(outcome, BaseException) for outcome in originals):
        # The original raised in every scenario. Upstream code that miscounts frames (a real August 2025 version's
        # single-speaker forward) still runs on one latent frame: the same statements, each rewritten site
        # included, on a video of one frame.
        one_frame = shape._replace(frames=1)
        _run_scenario(modules, classes, SINGLE, f"{SINGLE.name}-{ONE_FRAME}", one_frame, device, dtype, entry_points,
                      runs)
    return [TargetRuns(class_name, method, tuple(found_runs)) for found_runs in runs]


def _run_scenario(modules: Sequence[types.ModuleType], classes: Sequence[type[torch.nn.Module]], scenario: Scenario,
                  name: str, shape: Shape, device: torch.device, dtype: torch.dtype,
                  entry_points: Sequence[EntryPoint],
                  runs: list[list[ScenarioRun]]) -> torch.Tensor | BaseException | None:
    """One scenario, original against each rewrite: a `ScenarioRun` called `name` appended to each of `runs`.

    Returns what the original returned or raised (None when the classes could not be built)."""
    try:
        models = [build(cls, shape, device, dtype, seed=SEED) for cls in classes]
        for model in models[1:]:
            model.load_state_dict(models[0].state_dict())
    except (BuildError, RuntimeError) as error:
        for found_runs in runs:
            found_runs.append(ScenarioRun(name, "unverifiable", f"cannot construct it: {error}"))
        return None
    inputs = forward_inputs(shape, scenario, dtype, device, seed=SEED)
    outcomes: list[torch.Tensor | BaseException] = []
    for module, model in zip(modules, models):
        with synchronised_kernels(module, model, device, entry_points):
            outcomes.append(_attempt(functools.partial(run_forward, model, inputs.clone())))
    for found_runs, module, outcome in zip(runs, modules[1:], outcomes[1:]):
        found_runs.append(compare(name, outcomes[0], outcome, modules[0].__file__, module.__file__))
    return outcomes[0]


def verify_rewrites(rewrites: Mapping[str, FileResult], device: str = "cpu", dtype: str = "fp32",
                    shape: Shape = SMALL, entry_points: Sequence[EntryPoint] = ENTRY_POINTS,
                    in_checkout: bool = True) -> list[FileVerification]:
    """Verify each profile's rewrite of one file (`rewrites`: profile -> result, from the one rewrite path).

    The original is imported, built and run once for all of them. `entry_points`: the table the rewrites
    were made with (the file's project's), for stubs and synchronisation. `in_checkout`: import the file
    in its checkout (falling back to importing it on its own, which the verification's notes say), else
    on its own (`--bare`). One verification per profile.
    """
    failed = {profile: FileVerification(result.path, profile, error=result.error or "the file was not read")
              for profile, result in rewrites.items()
              if result.error is not None or result.old is None or result.new is None}
    usable = {profile: result for profile, result in rewrites.items() if profile not in failed}
    if not usable:
        return list(failed.values())
    first = next(iter(usable.values()))
    assert first.old is not None
    variants = [Variant(ORIGINAL, first.old)]
    variants.extend(Variant(profile, result.new) for profile, result in usable.items() if result.new is not None)
    on_disk = Path(first.path)
    source: Path | bytes = on_disk if first.path != "-" and on_disk.is_file() else first.old
    chosen_device, chosen_dtype = torch.device(device), torch_dtype(dtype)
    try:
        loaded = load(source, variants, entry_points=entry_points, in_checkout=in_checkout, device=device,
                      bare_fallback=True)
    except LoadError as error:
        reason = f"cannot import it: {error}"
        unloaded = {profile: FileVerification(result.path, profile, (), tuple(
            TargetRuns(target.class_name, target.method, (ScenarioRun(UNLOADED, "unverifiable", reason),))
            for target in result.targets)) for profile, result in usable.items()}
        return [failed.get(profile) or unloaded[profile] for profile in rewrites]
    # At the small shape, thread start-up costs more than the work on CPU (about 7x on 2 cores).
    threads = torch.get_num_threads()
    with loaded, ExitStack() as restore:
        if chosen_device.type == "cpu":
            torch.set_num_threads(1)
            restore.callback(torch.set_num_threads, threads)
        modules = [loaded[variant.name].module for variant in variants]
        per_target = [
            _target_runs(modules, target.class_name, target.method, shape, chosen_device, chosen_dtype, entry_points)
            for target in first.targets
        ]
        verified = {profile: FileVerification(result.path, profile, tuple(loaded.stubbed),
                                              tuple(runs[index] for runs in per_target), notes=tuple(loaded.notes))
                    for index, (profile, result) in enumerate(usable.items())}
    return [failed.get(profile) or verified[profile] for profile in rewrites]


def verify_result(result: FileResult, profile: str, device: str = "cpu", dtype: str = "fp32",
                  shape: Shape = SMALL, entry_points: Sequence[EntryPoint] = ENTRY_POINTS,
                  in_checkout: bool = True) -> FileVerification:
    """Verify one profile's rewrite `result` of one file; see `verify_rewrites`."""
    (verification,) = verify_rewrites({profile: result}, device, dtype, shape, entry_points, in_checkout)
    return verification


def cuda_available() -> bool:
    """Whether torch sees a CUDA device (asked in a child process: this one must not initialise CUDA, it forks)."""
    return bool(torch.cuda.is_available())
