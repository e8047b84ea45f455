"""`contiguify verify`: run each rewrite beside the original and say whether it computes the same thing.

`outcome` (statuses, reports, exit codes) and `command` are free of torch; `run` needs it.
"""
