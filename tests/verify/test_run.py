"""`verify_result` on small hand-made modules: each status, and what its detail names.

The rewritten bytes are written by hand here (not by the codemod), so that every status can occur.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="verify runs the modules under torch")

from codemod.results import FileResult, TargetResult
from codemod.verify.run import KernelFault, compare, synchronised_kernels, verify_result

SINGLE = """\
import torch
import torch.nn as nn


class SingleStreamAttention(nn.Module):
    def __init__(self, dim, encoder_hidden_states_dim, num_heads, qkv_bias{params}):
        super().__init__()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, encoder_hidden_states, shape=None):
        {body}
"""

MULTI = """\
import torch
import torch.nn as nn


class SingleStreamMultiAttention(nn.Module):
    def __init__(self, dim, encoder_hidden_states_dim, num_heads, qkv_bias):
        super().__init__()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, encoder_hidden_states, shape=None, x_ref_attn_map=None, human_num=None):
        if human_num == 1:
            return self.proj(x)
        {body}
"""


def _verify(tmp_path: Path, old: str, new: str, class_name: str = "SingleStreamAttention") -> list[tuple[str, str, str]]:
    path = tmp_path / "module.py"
    path.write_text(old)
    target = TargetResult(class_name, "forward", 1, "single", ())
    result = FileResult(str(path), targets=(target,), old=old.encode(), new=new.encode())
    verification = verify_result(result, "seed")
    assert verification.error is None
    (runs,) = [target.runs for target in verification.targets]
    return [(run.scenario, run.status, run.detail) for run in runs]


def _single(body: str, params: str = "") -> str:
    return SINGLE.format(body=body, params=params)


def test_an_inserted_contiguous_is_equal(tmp_path: Path) -> None:
    old, new = _single("return self.proj(x.transpose(0, 1))"), _single("return self.proj(x.transpose(0, 1).contiguous())")
    assert _verify(tmp_path, old, new) == [("single", "equal", "")]


def test_a_changed_result_differs_by_its_max_abs_diff(tmp_path: Path) -> None:
    path = tmp_path / "module.py"
    old, new = _single("return self.proj(x)"), _single("return self.proj(x) + 0.5")
    path.write_text(old)
    result = FileResult(str(path), targets=(TargetResult("SingleStreamAttention", "forward", 1, "single", ()),),
                        old=old.encode(), new=new.encode())
    (run,) = verify_result(result, "seed").targets[0].runs
    assert run.status == "differs" and run.max_abs_diff == pytest.approx(0.5, abs=1e-6)


def test_a_new_error_names_type_message_and_line(tmp_path: Path) -> None:
    old, new = _single("return self.proj(x)"), _single("raise ValueError('boom')")
    assert _verify(tmp_path, old, new) == [("single", "new-error", "ValueError: boom (line 11)")]


def test_the_same_error_on_both_sides_is_same_error(tmp_path: Path) -> None:
    """The original raises on every path, so the single-speaker path runs once more on one frame (see
    `test_a_forward_broken_in_every_scenario_but_one_frame_is_verified_on_one_frame`), raising the same there."""
    old = new = _single("return self.proj(x[:, :, :3])")
    runs = _verify(tmp_path, old, new)
    assert [(scenario, status) for scenario, status, _ in runs] == [
        ("single", "same-error"), ("single-1-frame", "same-error")]
    assert all(detail.startswith("RuntimeError: mat1 and mat2 shapes") for _, _, detail in runs)


def test_another_error_is_a_new_error_naming_both(tmp_path: Path) -> None:
    old, new = _single("raise KeyError('a')"), _single("raise ValueError('b')")
    assert _verify(tmp_path, old, new) == [
        (scenario, "new-error", "ValueError: b (line 11); the original raised KeyError: 'a' (line 11)")
        for scenario in ("single", "single-1-frame")]


def test_a_rewrite_that_stops_raising_differs(tmp_path: Path) -> None:
    old, new = _single("raise KeyError('a')"), _single("return self.proj(x)")
    assert _verify(tmp_path, old, new) == [
        (scenario, "differs", "the original raised KeyError: 'a' (line 11); the rewrite did not")
        for scenario in ("single", "single-1-frame")]


def test_nan_outputs_with_the_same_bits_are_equal(tmp_path: Path) -> None:
    old = new = _single("return self.proj(x) * float('nan')")
    assert _verify(tmp_path, old, new) == [("single", "equal", "")]


def test_a_multi_speaker_class_runs_both_scenarios(tmp_path: Path) -> None:
    old = MULTI.format(body="return self.proj(x) * human_num")
    new = MULTI.format(body="return self.proj(x.contiguous()) * human_num")
    assert _verify(tmp_path, old, new, "SingleStreamMultiAttention") == [("single", "equal", ""), ("two", "equal", "")]


def test_a_constructor_it_cannot_call_is_unverifiable_naming_the_parameter(tmp_path: Path) -> None:
    old = new = _single("return self.proj(x)", params=", mystery")
    ((scenario, status, detail),) = _verify(tmp_path, old, new)
    assert (scenario, status) == ("single", "unverifiable") and "no value for its parameter 'mystery'" in detail


def test_a_module_that_does_not_import_is_unverifiable_naming_why(tmp_path: Path) -> None:
    old = new = "1 / 0\n" + _single("return self.proj(x)")
    ((scenario, status, detail),) = _verify(tmp_path, old, new)
    assert (scenario, status) == ("all", "unverifiable")
    assert detail.startswith("cannot import it:") and "ZeroDivisionError" in detail


def test_missing_modules_are_stubbed_and_named(tmp_path: Path) -> None:
    old = "import not_installed_anywhere.ops\n" + _single("return self.proj(x)")
    path = tmp_path / "module.py"
    path.write_text(old)
    result = FileResult(str(path), targets=(TargetResult("SingleStreamAttention", "forward", 1, "single", ()),),
                        old=old.encode(), new=old.encode())
    verification = verify_result(result, "seed")
    assert verification.stubbed == ("not_installed_anywhere.ops",)
    assert [run.status for run in verification.targets[0].runs] == ["equal"]


def test_a_method_other_than_forward_is_unverifiable(tmp_path: Path) -> None:
    old = _single("return self.proj(x)")
    path = tmp_path / "module.py"
    path.write_text(old)
    result = FileResult(str(path), targets=(TargetResult("SingleStreamAttention", "helper", 1, "single", ()),),
                        old=old.encode(), new=old.encode())
    (run,) = verify_result(result, "seed").targets[0].runs
    assert (run.status, run.detail) == ("unverifiable", "only forward methods are run, not helper")


def test_a_file_that_was_not_read_is_an_error() -> None:
    assert verify_result(FileResult("gone.py", error="cannot read: No such file"), "seed").error == "cannot read: No such file"


class _FaultOnFirstSynchronise:
    """`torch.cuda.synchronize` as it behaves after a kernel faulted: the first call raises CUDA's error."""

    calls = 0

    def __call__(self, device: object = None) -> None:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("CUDA error: misaligned address")


def test_a_device_fault_is_raised_at_the_kernel_call_that_launched_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CUDA reports faults late; synchronising after each entry point pins one on its call and line.

    Run on CPU with `torch.cuda.synchronize` replaced by one that reports a fault once attention has run.
    """
    from codemod.model.build import build
    from codemod.model.load import load
    from codemod.model.shape import SMALL

    source = tmp_path / "module.py"
    source.write_text(_single("x = attention(x, x, x)\n        return self.proj(x)").replace(
        "import torch.nn as nn\n", "import torch.nn as nn\n\n\ndef attention(q, k, v):\n    return q\n"))
    monkeypatch.setattr(torch.cuda, "synchronize", _FaultOnFirstSynchronise())
    with load(source) as loaded:
        module = loaded["original"].module
        model = build(module.SingleStreamAttention, SMALL)
        x = torch.randn(1, 4, SMALL.dim)
        with synchronised_kernels(module, model, torch.device("cuda")), pytest.raises(KernelFault) as fault:
            model(x, x)
    assert str(fault.value) == "RuntimeError: CUDA error: misaligned address (raised by the attention() call at line 15)"


def test_compare_reports_shape_and_dtype_changes() -> None:
    run = compare("single", torch.zeros(2, 3), torch.zeros(3, 2))
    assert (run.status, run.detail) == ("differs", "original (2, 3) torch.float32, rewritten (3, 2) torch.float32")
