"""`fixtures/cases/cases.toml`: where each case runs, and the errors a broken manifest gives."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from fixtures.catalog import CASES, DROP_IN_CHECKOUT, DROP_IN_PATH, FIXTURES, Case, ManifestError, cases

SOURCE = b"class SingleStreamAttention:\n    pass\n"


def _cases_dir(tmp_path: Path, manifest: str, names: tuple[str, ...] = ("a", "b")) -> Path:
    for name in names:
        (tmp_path / f"{name}.in.py").write_bytes(SOURCE)
    (tmp_path / "cases.toml").write_text(manifest, encoding="utf-8")
    return tmp_path


def test_unlisted_cases_are_drop_ins_and_listed_ones_go_where_the_manifest_says(tmp_path: Path) -> None:
    directory = _cases_dir(tmp_path, '[b]\ncheckout = "comfyui"\npath = "comfy/ldm/wan/model_multitalk.py"\n')
    first, second = cases(directory)
    assert (first.name, first.drop_in, first.checkout, first.path) == (
        "a", True, DROP_IN_CHECKOUT, DROP_IN_PATH)
    assert (second.name, second.drop_in, second.checkout) == ("b", False, "comfyui")
    assert second.checkout_root == FIXTURES / "comfyui"


def test_a_listed_case_without_checkout_is_a_bare_file(tmp_path: Path) -> None:
    bare = cases(_cases_dir(tmp_path, '[a]\nshape = "a port"\n'))[0]
    assert (bare.checkout, bare.checkout_root, bare.path, bare.shape) == (None, None, PurePosixPath("a.py"), "a port")
    placed = bare.place(tmp_path / "work")
    assert placed == tmp_path / "work" / "a.py" and placed.read_bytes() == SOURCE
    assert sorted(path.name for path in (tmp_path / "work").iterdir()) == ["a.py"]


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ('[c]\nshape = "x"\n', "no c.in.py for [c]"),
        ('[a]\ncolour = "red"\n', "[a] unknown key 'colour'"),
        ('[a]\ncheckout = "diffusers"\npath = "x.py"\n', "[a] unknown checkout 'diffusers'"),
        ('[a]\ncheckout = "meigen"\n', "[a] checkout and path go together"),
        ('[a]\nbundled = "yes"\n', "[a] bundled must be a bool"),
        ("[a\n", "cases.toml"),
    ],
    ids=["missing-case", "unknown-key", "unknown-checkout", "checkout-without-path", "wrong-type", "unparsable"],
)
def test_a_broken_manifest_names_the_problem(tmp_path: Path, manifest: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message.replace("[", r"\[").replace("]", r"\]")):
        cases(_cases_dir(tmp_path, manifest))


@pytest.mark.parametrize("case", [case for case in cases() if case.checkout is not None], ids=lambda case: case.name)
def test_every_case_in_a_checkout_replaces_a_file_that_is_there(case: Case) -> None:
    assert case.checkout_root is not None and (case.checkout_root / case.path).is_file()


def test_placing_a_case_in_its_checkout_copies_the_checkout_and_puts_the_case_in(tmp_path: Path) -> None:
    case = next(case for case in cases() if case.name == "infinitetalk_sp")
    placed = case.place(tmp_path)
    assert placed == tmp_path / "meigen" / "wan" / "modules" / "attention.py"
    assert placed.read_bytes() == (CASES / "infinitetalk_sp.in.py").read_bytes()
    assert (tmp_path / "meigen" / "wan" / "utils" / "multitalk_utils.py").is_file()
