"""ComfyUI integration: a custom node folder whose prestartup script installs the import hook."""
