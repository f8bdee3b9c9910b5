"""Secret values: the OS keyring store, the secret stores (local and Cloudflare's), the resolved environment, the safety checks and the scrubber."""
