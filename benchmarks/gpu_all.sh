#!/usr/bin/env bash
# Every CUDA check of contiguify in one run, for the GPU machine (Python 3.12, torch + triton, no libcst).
#
#   bash benchmarks/gpu_all.sh          # from the repository root, with wheels/ beside it
#   REAL_ONLY=1 bash benchmarks/gpu_all.sh   # only the real upstream files (the last two steps)
#
# wheels/ holds libcst (the codemod's only dependency missing there) and sageattention 1.0.6; they are
# installed into /tmp/site, never into the system. Logs and summary.md go to $OUT (default ./gpu-out).
# real/checkouts.tar.xz (written here by `python benchmarks/real_checkouts.py --pack real/checkouts.tar.xz`;
# real/ is ignored by git, so carry it) holds the real upstream trees: when it is there, check/explain/verify
# --device cuda run on every file in it, and the per-shape forward-time benchmark on the fixture cases and on
# one real file per shape, in one run.
# The device tool brings back at most 8 files from $OUT: the real-file results go into summary.md.
set -uo pipefail

OUT="${OUT:-./gpu-out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1

python3 -m pip install -q --no-index --no-deps --upgrade --target /tmp/site wheels/*.whl || exit 2
export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"

python3 - <<'PY' | tee "$OUT/versions.txt"
import torch, triton
print(f"card: {torch.cuda.get_device_name()} (sm_{''.join(map(str, torch.cuda.get_device_capability()))})")
print(f"torch: {torch.__version__} (CUDA {torch.version.cuda}), triton: {triton.__version__}")
PY

tests_status=0 report_status=0 bench_status=0 verify_status=0 real_status=0
if [ -z "${REAL_ONLY:-}" ]; then
# --- the CUDA tests (every test marked cuda) --------------------------------------------------------------------------------------
python3 -m pytest -m cuda tests/runtime tests/verify/test_untrusted_code.py -q -rA -p no:cacheprovider --junitxml="$OUT/cuda-tests.xml" \
    2>&1 | tee "$OUT/cuda-tests.log"
tests_status=${PIPESTATUS[0]}

# --- what reaches the kernels, and each mode's error, at the real shape ------------------------------------
python3 -m fixtures.harness.report --device cuda --shape real > "$OUT/report.md" 2>> "$OUT/cuda-tests.log"
report_status=$?

# --- benchmarks ------------------------------------------------------------------------------------------
# Forward time of original / seed / boundary at the real shape, bf16 and FP8, single- and two-speaker.
python3 benchmarks/forward_time.py --rounds 50 --passes 2 --json "$OUT/forward_time.json" \
    > "$OUT/forward_time.md" 2>> "$OUT/cuda-tests.log"
bench_status=$?

# --- verify: every fixture case where it lives, every profile, on the GPU with the kernels installed there ----
python3 benchmarks/verify_cases.py --device cuda > "$OUT/verify-cuda.md" 2>&1
verify_status=$?
fi

# --- real upstream files: check / explain / verify on CUDA, and their forward times -------------------------
REAL_WORK=/tmp/contiguify-real
if [ -f real/checkouts.tar.xz ]; then
    python3 benchmarks/real_checkouts.py --unpack real/checkouts.tar.xz --work "$REAL_WORK" --device cuda \
        --timeout 240 > "$REAL_WORK.md" 2> "$REAL_WORK.log"
    real_status=$?
    # the fixture cases and the real files in one run, so that each real file has its fixture beside it
    python3 benchmarks/shape_time.py --rounds 20 --passes 2 --real "$REAL_WORK" \
        > "$REAL_WORK-shape-time.md" 2>> "$REAL_WORK.log"
    real_status=$(( real_status || $? ))
    tail -n 40 "$REAL_WORK.log" > "$REAL_WORK-log-tail.txt"
fi

python3 - "$OUT" "$tests_status" "$report_status" "$bench_status" "$verify_status" "$REAL_WORK" <<'PY' > "$OUT/summary.md"
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

out, tests_status, report_status, bench_status, verify_status = Path(sys.argv[1]), *sys.argv[2:6]
real = Path(sys.argv[6])
print("# contiguify on CUDA\n")
print((out / "versions.txt").read_text().strip().replace("\n", "  \n"), "\n")
junit = out / "cuda-tests.xml"
if junit.exists():
    suite = ET.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
    xfailed = sum(1 for case in suite.iter("testcase") for s in case.findall("skipped") if s.get("type") == "pytest.xfail")
    passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    print(f"`python3 -m pytest -m cuda tests/runtime`: {passed} passed, {counts['failures']} failed, "
          f"{counts['errors']} errors, {counts['skipped'] - xfailed} skipped, {xfailed} xfailed "
          f"(exit {tests_status}; {float(suite.get('time', 0)):.0f} s)\n")
    for case in suite.iter("testcase"):
        for problem in case.findall("failure") + case.findall("error"):
            print(f"- FAILED {case.get('classname')}::{case.get('name')}: {(problem.get('message') or '')[:300]}")
else:
    print(f"pytest wrote no report (exit {tests_status})\n")
report = out / "report.md"
if report_status != "0":
    print(f"\n`python3 -m fixtures.harness.report` failed (exit {report_status}); its errors are in cuda-tests.log\n")
print(report.read_text() if report.exists() else "no report")
bench = out / "forward_time.md"
print("\n## Forward time (benchmarks/forward_time.py)\n")
if bench_status != "0":
    print(f"`benchmarks/forward_time.py` failed (exit {bench_status}); its errors are in cuda-tests.log\n")
print(bench.read_text() if bench.exists() else "no benchmark output")
verify = out / "verify-cuda.md"
print(f"\n## `contiguify verify --device cuda` over every case (exit {verify_status})\n")
print("```\n" + (verify.read_text() if verify.exists() else "no output") + "```")
for title, path in (("Real upstream files: `benchmarks/real_checkouts.py --device cuda`", real.with_name(real.name + ".md")),
                    ("Forward time per shape, fixture cases and real upstream files (`benchmarks/shape_time.py --real`)", real.with_name(real.name + "-shape-time.md")),
                    ("Real upstream files: the last lines of their log", real.with_name(real.name + "-log-tail.txt"))):
    if path.exists():
        print(f"\n## {title}\n")
        print(path.read_text() if path.suffix == ".md" else "```\n" + path.read_text() + "```")
PY

cat "$OUT/summary.md"
[ "$tests_status" -eq 0 ] && [ "$report_status" -eq 0 ] && [ "$bench_status" -eq 0 ] && [ "$verify_status" -eq 0 ] && [ "$real_status" -eq 0 ]
