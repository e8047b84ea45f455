"""contiguify: re-apply the MultiTalk `.contiguous()` fix to a ComfyUI-WanVideoWrapper checkout."""

__version__ = "0.1.0"
