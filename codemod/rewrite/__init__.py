"""What rewrites: the profile-independent engine and the profiles, one module each."""
