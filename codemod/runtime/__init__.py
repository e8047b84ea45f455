"""Runs original and rewritten copies of a fixture checkout side by side (needs torch).

Imported only by the runtime tests and the analysis that build on them; `contiguify check` and
`fix` never import it, so the codemod itself works without torch.
"""
