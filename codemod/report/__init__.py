"""What reports: diffs and JSON on stdout, messages and the summary on stderr."""
