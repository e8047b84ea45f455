"""What only the runtime tests and the GPU run use: the fixture checkout's variants loaded side by side,
FP8 and FP4 linears, the strict FP8 attention kernel, the misaligned-address repro, modes and reports.

Built on `codemod.model` (loading, building, scenarios, recording), which `explain` and `verify` share.
Run from the repository root: `python -m tests.runtime.harness.report`, `python -m tests.runtime.harness.misaligned`.
"""
