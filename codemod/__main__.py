"""`python -m codemod` runs the same command line as the `contiguify` script."""

from codemod.cli import run

run()
