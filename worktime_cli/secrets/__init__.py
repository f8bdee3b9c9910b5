"""Secret values: the OS keyring store, the secret stores (local and Cloudflare's), the resolved environment, the safety checks and the scrubber.

- `keyring_store`: the one call path to the OS keyring (timeout, backend checks, notices), the API token;
- `keyring_projects`: where a project's secrets live in the keyring (service, index, carry-over, adopt);
- `stores`: the local `SecretStore` over the keyring; `environment`: the values a Worker sees;
- `safety`: local secrets stay local; `scrub`: values kept out of messages;
- `diff`: which secret names are where (config, keyring, dotenv, deployed Worker).
"""
