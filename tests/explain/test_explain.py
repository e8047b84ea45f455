"""`explain` on the fixtures: its findings, meta against a real CPU run, JSON, bare files and bad input."""

from __future__ import annotations

import json
import re
import shutil
import types
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from click.testing import Result

from codemod.explain.analysis import Explanation, Run, explain_file
from codemod.model.build import build, torch_dtype
from codemod.model.record import Boundary, Recording, recording
from codemod.model.scenarios import forward_inputs, run_forward
from codemod.model.shape import REAL, SINGLE, TWO, Scenario, Shape
from codemod.rewrite import profile_names
from codemod.rewrite.file import rewrite
from fixtures.catalog import CASES, FIXTURES, WRAPPER_MULTITALK, cases
from tests.cli_runner import run

SMALL = Shape(dim=64, heads=4, enc_dim=32, enc_tokens=8, frames=3, height=4, width=4)
SMALL_OPTIONS = ["--dim", "64", "--heads", "4", "--enc-dim", "32", "--enc-tokens", "8",
                 "--frames", "3", "--height", "4", "--width", "4"]
SCENARIOS: tuple[Scenario, ...] = (SINGLE, TWO)
PROFILES = list(profile_names())

ImportCheckout = Callable[[bytes], types.ModuleType]


def invoke(*args: str) -> Result:
    return run("explain", *args)


def attention_layout(run: Run) -> tuple[bool, ...]:
    return tuple(b.contiguous for b in run.recording.boundaries if b.is_attention)


def run_of(explanation: Explanation, variant: str, scenario: str) -> Run:
    return next(run for run in explanation.runs if run.variant == variant and run.scenario == scenario)


@pytest.fixture(scope="module")
def real_shape() -> Explanation:
    return explain_file(WRAPPER_MULTITALK, PROFILES, SCENARIOS, REAL)


# (q, k, v) contiguous at attention(), bf16, at the real shape: the measured table of FACTS.md.
ATTENTION_LAYOUTS = {
    ("original", "single"): (True, False, False),
    ("seed", "single"): (True, False, False),
    ("boundary", "single"): (True, True, True),
    ("original", "two"): (True, True, False),
    ("seed", "two"): (False, False, False),
    ("boundary", "two"): (True, True, True),
}


@pytest.mark.parametrize(("variant", "scenario"), list(ATTENTION_LAYOUTS))
def test_attention_inputs_at_the_real_shape(real_shape: Explanation, variant: str, scenario: str) -> None:
    assert attention_layout(run_of(real_shape, variant, scenario)) == ATTENTION_LAYOUTS[(variant, scenario)]


def test_linear_inputs_are_contiguous_and_everything_is_aligned(real_shape: Explanation) -> None:
    for run in real_shape.runs:
        linears = [b for b in run.recording.boundaries if not b.is_attention]
        assert [b.call for b in linears] == ["q_linear", "kv_linear", "proj"]
        assert all(b.contiguous for b in linears)
        assert all(b.aligned16 for b in run.recording.boundaries)


def test_strided_views_and_what_the_rewrites_copy(real_shape: Explanation) -> None:
    k_single = next(b for b in run_of(real_shape, "original", "single").recording.boundaries if b.arg == "k")
    assert (k_single.shape, k_single.stride) == ((21, 32, 40, 128), (327680, 10240, 128, 1))  # an unbind(2) view
    q_seed = next(b for b in run_of(real_shape, "seed", "two").recording.boundaries if b.arg == "q")
    assert (q_seed.shape, q_seed.stride) == ((21, 2304, 40, 128), (294912, 128, 6193152, 1))

    def copies(variant: str, scenario: str) -> list[tuple[str | None, int]]:
        return [(c.site, c.bytes) for c in run_of(real_shape, variant, scenario).recording.contiguous_calls if c.copied]

    audio_bytes = 21 * 32 * 5120 * 2
    assert copies("original", "single") == copies("original", "two") == []
    assert copies("seed", "single") == []
    assert copies("seed", "two") == [("multi.q-permute", 21 * 2304 * 5120 * 2), ("multi.kv-permute", 2 * audio_bytes)]
    assert copies("boundary", "single") == [
        ("boundary.attention-k", audio_bytes), ("boundary.attention-v", audio_bytes)
    ]
    assert copies("boundary", "two") == [("boundary.attention-v", audio_bytes)]


def test_every_executed_call_of_a_rewrite_is_named_by_its_site(real_shape: Explanation) -> None:
    sites = {(run.variant, run.scenario): [c.site for c in run.recording.contiguous_calls] for run in real_shape.runs}
    assert sites[("seed", "single")] == [
        "single.x-view-in", "single.q-view", "single.kv-linear", "single.kv-view",
        "single.proj-reshape", "single.x-view-out",
    ]
    assert sites[("seed", "two")] == [
        "multi.q-linear", "multi.q-view", "multi.q-permute", "multi.kv-linear", "multi.kv-view",
        "multi.kv-permute", "multi.x-reshape",
    ]
    assert sites[("boundary", "two")] == [
        "boundary.linear-input", "boundary.linear-input", "boundary.attention-q", "boundary.attention-k",
        "boundary.attention-v", "boundary.linear-input",
    ]


def test_in_fp32_the_rotary_embedding_leaves_k_strided() -> None:
    # `x.float()` returns x itself in fp32, so no copy undoes the permute before the final rearrange.
    explanation = explain_file(WRAPPER_MULTITALK, ["seed"], [TWO], REAL, "fp32")
    assert attention_layout(run_of(explanation, "original", "two")) == (True, False, False)


Layouts = tuple[list[Boundary], list[tuple[int, int | None, bool, int]]]


def layouts(recorded: Recording) -> Layouts:
    """What a recording says about memory; site names come from explain alone and are left out."""
    calls = [(c.line, c.column, c.copied, c.bytes) for c in recorded.contiguous_calls]
    return recorded.boundaries, calls


def _cpu_layouts(module: types.ModuleType, dtype: str) -> dict[str, Layouts]:
    """Per scenario, what a real CPU forward through the multi-speaker class records."""
    cls = getattr(module, "SingleStreamMultiAttention", None) or module.SingleStreamMutiAttention
    found: dict[str, Layouts] = {}
    for scenario in SCENARIOS:
        model = build(cls, SMALL, "cpu", torch_dtype(dtype), seed=scenario.speakers)
        inputs = forward_inputs(SMALL, scenario, torch_dtype(dtype), "cpu", seed=scenario.speakers)
        with recording(module, model) as recorded:
            run_forward(model, inputs)
        found[scenario.name] = layouts(recorded)
    return found


# Every drift variant in bf16; fp32 (where the rotary embedding keeps strides) on the current upstream layout.
# Cases elsewhere than the WanVideoWrapper checkout (fixtures/cases/cases.toml) are `verify`'s.
META_AGAINST_CPU = [(case.source, "bf16") for case in cases() if case.drop_in] + [(CASES / "jan2026.in.py", "fp32")]


@pytest.mark.parametrize(
    ("case", "dtype"), META_AGAINST_CPU, ids=lambda value: value if isinstance(value, str) else value.name[:-6]
)
def test_meta_device_layouts_equal_a_real_cpu_run(import_checkout: ImportCheckout, case: Path, dtype: str) -> None:
    explanation = explain_file(case, PROFILES, SCENARIOS, SMALL, dtype)
    # The rewrites through the one entry point (tests/rewrite checks them against the reviewed diffs).
    sources = {"original": case.read_bytes()}
    for profile in PROFILES:
        sources[profile] = rewrite(sources["original"], profile).new or b""
    for variant, source in sources.items():
        on_cpu = _cpu_layouts(import_checkout(source), dtype)
        for scenario in SCENARIOS:
            recorded = run_of(explanation, variant, scenario.name).recording
            assert layouts(recorded) == on_cpu[scenario.name], (variant, scenario)


def test_text_report_has_a_verdict_per_run_and_the_summary() -> None:
    result = invoke(str(WRAPPER_MULTITALK), *SMALL_OPTIONS)
    assert result.exit_code == 0, result.output
    verdicts = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("verdict")]
    assert len(verdicts) == (1 + len(PROFILES)) * len(SCENARIOS)
    assert _verdict(verdicts, "original", "single-speaker").startswith(
        "verdict original, single-speaker: 2 of 6 kernel inputs non-contiguous: attention k, v (line 199)"
    )
    assert _verdict(verdicts, "boundary", "single-speaker").startswith(
        "verdict boundary, single-speaker: all 6 kernel inputs contiguous"
    )
    title, header, single, two = [line.strip() for line in result.stdout.splitlines()[-4:]]
    assert title == "attention inputs contiguous (q, k, v)"
    assert header.split() == ["path", "original", *PROFILES]
    columns = header.split()
    single_cells = dict(zip(columns, re.split(r"\s{2,}", single)))
    two_cells = dict(zip(columns, re.split(r"\s{2,}", two)))
    assert {name: single_cells[name] for name in ("path", "original", "seed", "boundary")} == {
        "path": "single-speaker", "original": "(yes, no, no)", "seed": "(yes, no, no)", "boundary": "(yes, yes, yes)",
    }
    assert {name: two_cells[name] for name in ("path", "original", "seed", "boundary")} == {
        "path": "two-speaker", "original": "(yes, yes, no)", "seed": "(no, no, no)", "boundary": "(yes, yes, yes)",
    }


def _verdict(verdicts: list[str], variant: str, scenario: str) -> str:
    """The verdict line of one variant in one scenario, found by their names."""
    (found,) = [line for line in verdicts if line.startswith(f"verdict {variant}, {scenario}:")]
    return found


def test_json_report_follows_the_schema() -> None:
    result = invoke(str(WRAPPER_MULTITALK), "--format", "json", *SMALL_OPTIONS)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert set(document) == {"file", "shape", "runs"}
    assert document["file"] == str(WRAPPER_MULTITALK)
    assert document["shape"] == {"dim": 64, "heads": 4, "enc_dim": 32, "enc_tokens": 8, "frames": 3, "height": 4,
                                 "width": 4, "dtype": "bf16"}
    assert [(run["variant"], run["path"]) for run in document["runs"]] == [
        (variant, scenario.name) for scenario in SCENARIOS for variant in ("original", *PROFILES)
    ]
    for run in document["runs"]:
        assert set(run) == {"variant", "path", "error", "boundaries", "contiguous_calls"} and run["error"] is None
        for boundary in run["boundaries"]:
            assert set(boundary) == {"line", "call", "arg", "layout", "contiguous", "dense", "aligned16", "shape",
                                     "stride"}
            assert boundary["call"] in {"attention", "q_linear", "kv_linear", "proj"}
            attention = boundary["call"] == "attention"
            assert boundary["arg"] in ({"q", "k", "v"} if attention else {"input"})
            assert boundary["layout"] == ("B L H D" if attention else None)
            assert isinstance(boundary["dense"], bool)
            assert isinstance(boundary["line"], int) and isinstance(boundary["contiguous"], bool)
            assert len(boundary["shape"]) == len(boundary["stride"])
        for call in run["contiguous_calls"]:
            assert set(call) == {"line", "site", "copied", "bytes"}
            assert isinstance(call["site"], str) and isinstance(call["bytes"], int)


def test_profile_and_humans_choose_the_runs() -> None:
    result = invoke(str(WRAPPER_MULTITALK), "--format", "json", "--profile", "seed", "--humans", "2", *SMALL_OPTIONS)
    assert result.exit_code == 0, result.output
    assert [(run["variant"], run["path"]) for run in json.loads(result.stdout)["runs"]] == [
        ("original", "two"), ("seed", "two")
    ]


def test_a_bare_file_with_no_package_around_it(tmp_path: Path) -> None:
    bare = tmp_path / "multitalk.py"
    shutil.copyfile(WRAPPER_MULTITALK, bare)
    bare_result = invoke(str(bare), "--format", "json", *SMALL_OPTIONS)
    checkout_result = invoke(str(WRAPPER_MULTITALK), "--format", "json", *SMALL_OPTIONS)
    assert bare_result.exit_code == 0, bare_result.output
    assert json.loads(bare_result.stdout)["runs"] == json.loads(checkout_result.stdout)["runs"]


def test_bare_stubs_the_checkout_and_finds_the_same_layouts() -> None:
    bare = invoke(str(WRAPPER_MULTITALK), "--bare", "--format", "json", *SMALL_OPTIONS)
    in_checkout = invoke(str(WRAPPER_MULTITALK), "--format", "json", *SMALL_OPTIONS)
    assert bare.exit_code == in_checkout.exit_code == 0, bare.output
    assert "stubbed, not importable here: ..wanvideo.modules.attention" in bare.stderr
    # in the checkout, only the node's PyPI dependency that is not installed here (requirements.txt) is stubbed
    assert [line for line in in_checkout.stderr.splitlines() if "stubbed" in line] == [
        "note: stubbed, not importable here: gguf"]
    assert json.loads(bare.stdout)["runs"] == json.loads(in_checkout.stdout)["runs"]


def test_host_imports_and_an_older_constructor_are_handled(tmp_path: Path) -> None:
    source = WRAPPER_MULTITALK.read_text()
    source = source.replace(
        "from ..wanvideo.modules.attention import attention",
        "from ..wanvideo.modules.attention import attention\n"
        "from ..utils import log\n"
        "import comfy.model_management as mm",
    )
    # The original MultiTalk signature: qk_norm and norm_layer, required.
    parameters = "\n        qk_norm: bool,\n        norm_layer: nn.Module,"
    source = source.replace("qkv_bias: bool,", "qkv_bias: bool," + parameters)
    passed_on = "\n            qk_norm=qk_norm,\n            norm_layer=norm_layer,"
    source = source.replace("qkv_bias=qkv_bias,", "qkv_bias=qkv_bias," + passed_on)
    bare = tmp_path / "multitalk.py"
    bare.write_text(source)
    result = invoke(str(bare), *SMALL_OPTIONS)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("verdict") == (1 + len(PROFILES)) * len(SCENARIOS)


def test_a_file_without_the_multi_speaker_class_has_the_single_speaker_scenario_only(tmp_path: Path) -> None:
    source = WRAPPER_MULTITALK.read_text()
    bare = tmp_path / "single_only.py"
    bare.write_text(source[: source.index("class SingleStreamMultiAttention")])
    result = invoke(str(bare), *SMALL_OPTIONS)
    assert result.exit_code == 0, result.output
    assert "two-speaker path skipped: no multi-speaker class" in result.stderr
    assert result.stdout.count("verdict") == 1 + len(PROFILES)


BAD_INPUTS = {
    "syntax": ("class SingleStreamAttention:\n    def forward(self:\n", "syntax error"),
    "no-target": ("import torch\n\nclass Other:\n    def forward(self):\n        pass\n", "no target class"),
    "import-fails": (
        WRAPPER_MULTITALK.read_text().replace("import torch\n", "import torch\nraise RuntimeError('boom')\n", 1),
        "cannot import it: RuntimeError: boom",
    ),
    "unknown-required-parameter": (
        WRAPPER_MULTITALK.read_text().replace("num_heads: int,", "num_heads: int,\n        mystery: int,"),
        "no value for its parameter 'mystery'",
    ),
    "forward-fails-in-every-scenario": (
        WRAPPER_MULTITALK.read_text().replace("        expected_tokens =", "        1 / 0\n        expected_tokens =")
        .replace("        N_t, N_h, N_w = shape\n\n", "        1 / 0\n        N_t, N_h, N_w = shape\n\n"),
        "nothing could run",
    ),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_is_a_clear_error_with_exit_2(tmp_path: Path, name: str) -> None:
    source, message = BAD_INPUTS[name]
    bad = tmp_path / "multitalk.py"
    bad.write_text(source)
    result = invoke(str(bad), *SMALL_OPTIONS)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stdout == ""


JSON_BAD_INPUTS = {
    **{name: (source.encode(), message) for name, (source, message) in BAD_INPUTS.items()},
    "binary": (b"class SingleStreamAttention:\0\n", "binary file"),
    "not-utf8": (b"class SingleStreamAttention:\n    x = '\xff'\n", "cannot decode as utf-8"),
}


@pytest.mark.parametrize("name", [*JSON_BAD_INPUTS, "missing", "directory"])
def test_bad_input_in_json_is_a_json_error_document(tmp_path: Path, name: str) -> None:
    bad = tmp_path / "multitalk.py"
    message = {"missing": "does not exist", "directory": "is not a regular file"}.get(name)
    if name in JSON_BAD_INPUTS:
        data, message = JSON_BAD_INPUTS[name]
        bad.write_bytes(data)
    elif name == "directory":
        bad.mkdir()
    assert message is not None
    result = invoke(str(bad), "--format", "json", *SMALL_OPTIONS)
    assert result.exit_code == 2, result.output
    document = json.loads(result.stdout)
    assert set(document) == {"file", "error"} and document["file"] == str(bad)
    assert message in document["error"] and not document["error"].startswith(str(bad))
    assert "Error: " in result.stderr and message in result.stderr


def test_a_scenario_the_original_cannot_run_is_reported_and_the_others_still_run(tmp_path: Path) -> None:
    """As in a real August 2025 version, whose multi-speaker class's single-speaker fall-through is broken."""
    broken = tmp_path / "multitalk.py"
    broken.write_text(WRAPPER_MULTITALK.read_text().replace(
        "        expected_tokens =", "        1 / 0\n        expected_tokens ="))
    result = invoke(str(broken), "--format", "json", *SMALL_OPTIONS)
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)["runs"]
    assert [(run["variant"], run["path"]) for run in runs] == [
        (variant, scenario.name) for scenario in SCENARIOS for variant in ("original", *PROFILES)]
    for run in runs:
        if run["path"] == SINGLE.name:
            assert run["error"].startswith("SingleStreamMultiAttention.forward raised ZeroDivisionError")
            assert run["boundaries"] == []
        else:
            assert run["error"] is None and run["boundaries"]
    for variant in ("original", *PROFILES):
        assert f"note: {variant}, single-speaker path: could not run: SingleStreamMultiAttention.forward raised " \
               "ZeroDivisionError" in result.stderr
    text = invoke(str(broken), *SMALL_OPTIONS)
    assert text.exit_code == 0 and "  could not run: SingleStreamMultiAttention.forward raised" in text.stdout


def test_a_real_kernel_that_cannot_run_on_the_meta_device_is_served_by_sdpa_and_said(tmp_path: Path) -> None:
    """ComfyUI's `optimized_attention` asks CUDA for free memory on any device but the CPU, the meta device too."""
    tree = tmp_path / "comfyui"
    shutil.copytree(FIXTURES / "comfyui", tree, ignore=shutil.ignore_patterns("__pycache__"))
    kernels = tree / "comfy" / "ldm" / "modules" / "attention.py"
    kernels.write_text(kernels.read_text() + (
        "\n\ndef _needs_cuda_memory_stats(q, *args, **kwargs):\n"
        "    if q.device.type != 'cpu':\n        raise KeyError('active_bytes.all.current')\n"
        "    return attention_pytorch(q, *args, **kwargs)\n\n\noptimized_attention = _needs_cuda_memory_stats\n"))
    result = invoke(str(tree / "comfy" / "ldm" / "wan" / "model_multitalk.py"), "--format", "json", *SMALL_OPTIONS)
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)["runs"]
    assert runs and all(run["error"] is None and run["boundaries"] for run in runs)
    assert ("original, single-speaker path: SingleStreamMultiAttention.forward raised KeyError: "
            "'active_bytes.all.current'; run again with optimized_attention() served by PyTorch's sdpa in its "
            "layout") in result.stderr


def test_unknown_profile_and_missing_file_exit_2(tmp_path: Path) -> None:
    unknown = invoke(str(WRAPPER_MULTITALK), "--profile", "nope")
    assert unknown.exit_code == 2 and "unknown profile 'nope'" in unknown.stderr
    missing = invoke(str(tmp_path / "absent.py"))
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
