"""What runs: finding files, rewriting each one to a result value, writing changes atomically."""
