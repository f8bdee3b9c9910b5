"""Local development: the dev server, host policy, the real-Worker runner, typegen, the init scaffold, the toolchain checks and doctor."""
