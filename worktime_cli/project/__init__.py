"""The project: the wrangler config, .dev.vars and the local state paths.

- `config`: find and read the config into a `Config`, with one environment selected;
- `bindings`: the `[[d1_databases]]` / `[[kv_namespaces]]` entries (`D1Binding`, `KVBinding`);
- `editing`: edit the config in place (TOML and JSONC, comments and bytes kept);
- `jsonc`, `text`: JSONC parsing and splicing; the file's BOM, line endings and final newline;
- `devvars`: the dotenv files wrangler reads (.dev.vars or .env) and their strict parser;
- `state`: where local state lives, in wrangler 4 / miniflare's layout.
"""
