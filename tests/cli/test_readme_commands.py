"""CI runs the README's test commands, verbatim and in order: what a reader runs is what CI proves."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI = (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def _commands(block: str) -> list[str]:
    """The shell lines of a README code block, without their trailing `# comments`."""
    return [re.sub(r"\s+#.*$", "", line).strip() for line in block.splitlines() if line.strip()]


def _first_block_after(heading: str) -> list[str]:
    section = README[README.index(heading):]
    return _commands(section.split("```sh\n", 1)[1].split("```", 1)[0])


DEVELOPMENT = _first_block_after("## Development\n")


def test_ci_runs_the_development_commands_in_order() -> None:
    ci_lines = [line.strip() for line in CI.splitlines()]
    positions = [ci_lines.index(command) for command in DEVELOPMENT]
    assert DEVELOPMENT and positions == sorted(positions)


def test_the_opening_commands_install_and_test_the_same_way() -> None:
    opening = _commands(README.split("```sh\n", 1)[1].split("```", 1)[0])
    assert opening[-len(DEVELOPMENT):] == DEVELOPMENT
