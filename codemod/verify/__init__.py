"""`contiguify verify`: run each rewrite beside the original and say whether it computes the same thing.

`outcome` (statuses, reports) is free of torch; `run` needs it. The command is `codemod.cli.verify`.
"""
