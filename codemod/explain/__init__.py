"""`contiguify explain`: what reaches each kernel, and what each `.contiguous()` does, before and after a rewrite."""
