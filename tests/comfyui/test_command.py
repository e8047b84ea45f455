"""`contiguify comfyui install|status|uninstall` on a miniature ComfyUI tree (fixtures/builders.py)."""

from __future__ import annotations

from pathlib import Path

from codemod.comfyui.tree import FILES, MARKER, NODE_FOLDER
from codemod.rewrite.file import rewrite
from fixtures.builders import CORE_FILE, WRAPPER_FILE, make_tree
from tests.cli_runner import invoke

TARGET_FILES = (WRAPPER_FILE, CORE_FILE)


def _status(tree: Path, *options: str) -> tuple[int, list[str]]:
    code, out, _ = invoke("comfyui", "status", *options, str(tree))
    return code, out.decode().splitlines()


def _line(lines: list[str], relative: Path) -> str:
    [line] = [line for line in lines if line.startswith(f"{relative}:")]
    return line


def test_install_status_uninstall(tmp_path: Path) -> None:
    tree = make_tree(tmp_path)
    code, lines = _status(tree)
    assert code == 1 and lines[0].startswith("hook: not installed")
    assert all("not fixed on disk" in _line(lines, path) and "runs unfixed" in _line(lines, path)
               for path in TARGET_FILES)
    code, _, err = invoke("comfyui", "install", "--profile", "boundary", str(tree))
    assert code == 0, err
    folder = tree / "custom_nodes" / NODE_FOLDER
    assert sorted(path.name for path in folder.iterdir()) == sorted(FILES)
    namespace: dict[str, object] = {}
    exec((folder / "__init__.py").read_text(), namespace)
    assert namespace["NODE_CLASS_MAPPINGS"] == {}
    code, lines = _status(tree)
    assert code == 0 and lines[0] == "hook: installed (custom_nodes/contiguify, profile boundary)"
    assert all("fixed in memory at start" in _line(lines, path) for path in TARGET_FILES)
    # Files Python writes for the node folder go too; nothing else of the tree is touched.
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "prestartup_script.cpython-311.pyc").write_bytes(b"")
    code, _, err = invoke("comfyui", "uninstall", str(tree))
    assert code == 0, err
    assert not folder.exists()
    code, _, err = invoke("comfyui", "uninstall", str(tree))
    assert code == 0 and "nothing removed" in err


def test_status_counts_files_fixed_on_disk(tmp_path: Path) -> None:
    tree = make_tree(tmp_path)
    for relative in TARGET_FILES:
        fixed = rewrite((tree / relative).read_bytes(), "seed", path=str(relative))
        assert fixed.new is not None
        (tree / relative).write_bytes(fixed.new)
    code, lines = _status(tree)
    assert code == 0, lines
    assert all(_line(lines, path).endswith(": fixed on disk") for path in TARGET_FILES)


def test_status_reports_a_single_file_node_the_hook_cannot_reach(tmp_path: Path) -> None:
    tree = make_tree(tmp_path)
    (tree / "custom_nodes" / "loose_node.py").write_bytes((tree / WRAPPER_FILE).read_bytes())
    assert invoke("comfyui", "install", str(tree))[0] == 0
    code, lines = _status(tree)
    assert code == 1
    assert "where the hook cannot reach it: runs unfixed" in _line(lines, Path("custom_nodes/loose_node.py"))


def test_install_refuses_what_is_not_a_comfyui_tree(tmp_path: Path) -> None:
    code, _, err = invoke("comfyui", "install", str(tmp_path))
    assert code == 2 and str(tmp_path) in err and "not a ComfyUI tree" in err
    assert list(tmp_path.iterdir()) == []
    assert invoke("comfyui", "status", str(tmp_path / "absent"))[0] == 2


def test_install_and_uninstall_leave_a_foreign_folder_alone(tmp_path: Path) -> None:
    tree = make_tree(tmp_path)
    folder = tree / "custom_nodes" / NODE_FOLDER
    folder.mkdir()
    (folder / "__init__.py").write_text("NODE_CLASS_MAPPINGS = {'Mine': object}\n")
    code, _, err = invoke("comfyui", "install", str(tree))
    assert code == 2 and "did not write" in err
    assert (folder / "__init__.py").read_text().startswith("NODE_CLASS_MAPPINGS")
    code, _, err = invoke("comfyui", "uninstall", str(tree))
    assert code == 0 and (folder / "__init__.py").exists() and "left" in err
    assert not (folder / "prestartup_script.py").exists()
    assert MARKER not in (folder / "__init__.py").read_text()
