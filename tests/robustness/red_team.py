"""Runs the reproduction of every item of the third red-team pass (issue 17) and says, per item, whether it held.

    python tests/robustness/red_team.py            # every item
    python tests/robustness/red_team.py 1 5 16     # those items

Each item names the pytest tests that reproduce it; the script runs them in one pytest process and prints
one line per item: `held` when all its tests passed, `FAILED` (with the tests) otherwise. Exit status 0 when
every item held. Skipped tests are shown as such, never counted as held.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = "tests/robustness"
CONFIG = "tests/cli/test_config.py"
MALFORMED = f"{CONFIG}::test_a_malformed_config_is_an_error_naming_file_and_key_and_the_run_goes_on"

# Item number: (what the red team found, the tests that reproduce it).
ITEMS: dict[int, tuple[str, tuple[str, ...]]] = {
    1: ("a long elif chain crashes the run", (
        f"{HERE}/test_isolation.py::test_a_long_elif_chain_is_one_files_result",
        f"{HERE}/test_isolation.py::test_two_long_elif_chains_still_give_the_json_report",
    )),
    2: ("memory is not bounded by max-file-size", (
        f"{HERE}/test_isolation.py::test_memory_is_bounded_by_the_files_size",
    )),
    3: ("workers outlive the run", (
        f"{HERE}/test_isolation.py::test_workers_die_with_the_run",
        f"{HERE}/test_isolation.py::test_the_rewrite_beside_torchs_import_dies_with_the_run",
    )),
    4: ("deeply nested TOML crashes the whole run", tuple(
        f"{MALFORMED}[{command}-{case}]" for command in ("check", "fix")
        for case in ("deep-array", "deep-inline-table", "deep-targets", "too-large")
    )),
    5: ("cache entries other than insertions are trusted; the cache directory is not checked", (
        f"{HERE}/test_cache_private.py::test_a_forged_field_is_a_miss",
        f"{HERE}/test_cache_private.py::test_an_entry_that_is_not_a_small_regular_file_is_a_miss",
        f"{HERE}/test_cache_private.py::test_a_directory_others_may_write_is_not_used",
        f"{HERE}/test_cache_private.py::test_a_directory_of_another_user_is_not_used",
        f"{HERE}/test_cache_private.py::test_a_cache_directory_that_is_a_link_is_not_used",
        f"{HERE}/test_cache_private.py::test_a_new_cache_directory_is_private",
        f"{HERE}/test_cache_private.py::test_the_marker_files_are_never_written_through_a_link",
    )),
    6: ("a pyproject.toml above the repository root governs the checkout", (
        f"{CONFIG}::test_a_pyproject_above_the_repository_is_never_read",
        f"{CONFIG}::test_a_nested_repository_has_its_own_settings",
    )),
    7: ("target classes inside try:, if or a function are skipped silently", tuple(
        f"tests/rewrite/test_target_placement.py::test_{name}" for name in (
            "classes_in_module_level_blocks_are_rewritten", "methods_in_blocks_of_the_class_body_are_rewritten",
            "both_spellings_of_a_conditional_class_are_rewritten",
            "classes_inside_functions_are_reported_not_rewritten", "a_class_inside_a_function_warns_and_fails_strict",
        )
    )),
    8: ("hard links are split silently", (
        f"{HERE}/test_write_metadata.py::test_a_file_with_hard_links_is_not_split_from_them",
    )),
    9: ("owner and group change under a non-root fix", (
        f"{HERE}/test_write_metadata.py::test_a_non_root_fix_keeps_the_group",
        f"{HERE}/test_write_metadata.py::test_the_group_is_kept_for_real_where_this_user_has_another",
    )),
    10: ("some diffs do not apply", (
        "tests/cli/test_names.py::test_context_lines_holding_odd_separators_apply",
        "tests/cli/test_names.py::test_the_readme_apply_command_works_from_a_sibling_subdirectory",
    )),
    11: ("xattrs and POSIX ACLs are lost", (
        f"{HERE}/test_write_metadata.py::test_extended_attributes_are_kept",
        f"{HERE}/test_write_metadata.py::test_posix_acls_are_kept",
        f"{HERE}/test_write_metadata.py::test_a_directorys_default_acl_is_not_added_to_a_file_without_one",
    )),
    12: ("the boundary profile writes .contiguous() on values that are not tensors", (
        "tests/rewrite/test_boundary_sites.py::test_values_that_may_not_be_tensors_are_left_alone",
        "tests/rewrite/test_boundary_sites.py::test_parameters_that_may_not_be_tensors_are_left_alone",
        "tests/rewrite/test_boundary_sites.py::test_tensors_that_look_like_non_tensors_are_rewritten",
    )),
    13: ("lone-CR line endings and form feeds in indentation are refused", tuple(
        f"{HERE}/test_bad_input.py::test_encodings_and_line_endings_survive_byte_exact[{variant}]"
        for variant in ("cr-final-newline", "form-feed-indent", "form-feed-within-indent", "form-feed-cr")
    )),
    14: ("temp files are left after SIGKILL", (
        f"{HERE}/test_write_metadata.py::test_a_write_killed_midway_leaves_nothing_behind",
        f"{HERE}/test_write_metadata.py::test_without_o_tmpfile_the_temp_file_is_named_and_removed",
        f"{HERE}/test_call_in_fork.py::test_temporary_files_of_a_killed_child_are_removed",
        "tests/verify/test_untrusted_code.py::test_an_explain_killed_at_its_time_limit_leaves_no_temporary_files",
    )),
    15: ("a warm cache is slower than no cache for repeated contents", (
        f"{HERE}/test_cache_private.py::test_identical_files_are_looked_up_once",
    )),
    16: ("huge non-target files are read whole", (
        f"{HERE}/test_isolation.py::test_a_huge_file_is_never_read_whole",
        f"{HERE}/test_isolation.py::test_a_file_over_the_limit_is_searched_in_bounded_windows",
        f"{HERE}/test_isolation.py::test_a_short_read_is_not_the_end_of_the_file",
    )),
    17: ("entry-point names like *.view, range or *.reshape are accepted", tuple(
        f"{MALFORMED}[{command}-entry-point-{case}]" for command in ("check", "fix")
        for case in ("tensor-method", "tensor-method-wildcard", "builtin", "torch-function")
    )),
    18: ("NFKC-equivalent class names are missed", tuple(
        f"tests/rewrite/test_nfkc_names.py::test_{name}" for name in (
            "equivalent_spellings_are_the_same_names", "an_equivalent_contiguous_call_is_present",
            "a_latin_1_file_with_an_equivalent_class_name", "a_method_pattern_finds_an_equivalent_method_name",
        )
    )),
    19: ("max-file-size comes from the working directory's project, not the file's", (
        f"{HERE}/test_large_file.py::test_the_limit_is_the_files_own_projects",
    )),
    20: ("some exclude patterns silently do nothing", (
        *(f"{MALFORMED}[{command}-{case}]" for command in ("check", "fix")
          for case in ("exclude-absolute", "exclude-parent", "exclude-parent-inside", "exclude-nothing")),
        *(f"{CONFIG}::test_exclude_is_relative_to_the_config_and_applies_to_named_files[{case}]"
          for case in ("directory with a slash", "directory from dot", "path from dot", "doubled slash", "any depth")),
    )),
    21: ("long file names cannot be fixed", (
        f"{HERE}/test_write_metadata.py::test_a_name_as_long_as_the_file_system_allows_can_be_fixed",
    )),
    22: ("explain --format json prints no JSON for errors", (
        "tests/explain/test_explain.py::test_bad_input_in_json_is_a_json_error_document",
    )),
    23: ("the cache grows without bound", (
        f"{HERE}/test_cache_private.py::test_the_entries_stay_bounded_oldest_first",
        f"{HERE}/test_cache_private.py::test_old_fingerprint_directories_are_removed",
        f"{HERE}/test_cache_private.py::test_stale_temp_files_of_killed_runs_are_removed",
    )),
}


def _outcomes(report: Path) -> dict[str, str]:
    """`file::name[parameters]` -> passed / failed / skipped, from pytest's JUnit XML."""
    outcomes = {}
    for case in ElementTree.parse(report).iter("testcase"):
        module = case.get("classname", "").replace(".", "/") + ".py"
        name = f"{module}::{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            outcomes[name] = "failed"
        elif case.find("skipped") is not None:
            outcomes[name] = "skipped"
        else:
            outcomes[name] = "passed"
    return outcomes


def main(argv: list[str]) -> int:
    chosen = [int(number) for number in argv] or sorted(ITEMS)
    unknown = [number for number in chosen if number not in ITEMS]
    if unknown:
        print(f"no such item: {', '.join(map(str, unknown))} (known: {', '.join(map(str, sorted(ITEMS)))})")
        return 2
    tests = sorted({test for number in chosen for test in ITEMS[number][1]})
    with tempfile.TemporaryDirectory(prefix="red-team-") as scratch:
        report = Path(scratch) / "report.xml"
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                        *tests], cwd=ROOT, check=False)
        outcomes = _outcomes(report) if report.exists() else {}
    held = True
    print()
    for number in chosen:
        title, item_tests = ITEMS[number]
        mine = {name: outcome for name, outcome in outcomes.items()
                if any(name == test or name.startswith(test + "[") for test in item_tests)}
        failed = sorted(name for name, outcome in mine.items() if outcome == "failed")
        skipped = sorted(name for name, outcome in mine.items() if outcome == "skipped")
        if failed or not mine:
            held = False
            print(f"item {number:2d} FAILED  {title}: {', '.join(failed) or 'no test ran'}")
        elif skipped:
            print(f"item {number:2d} held    {title} ({len(mine) - len(skipped)} passed, "
                  f"{len(skipped)} skipped: {', '.join(skipped)})")
        else:
            print(f"item {number:2d} held    {title} ({len(mine)} tests)")
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
