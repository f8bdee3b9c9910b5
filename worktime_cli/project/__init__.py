"""The project: the wrangler config (model, discovery, TOML/JSONC editing that keeps bytes), .dev.vars and the local state paths."""
