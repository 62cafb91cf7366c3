"""The virtual assistant's automatic checks (SPEC §11): what a new ticket's mail names is
looked at (DNS, web, certificates, mail server) before a technician reads it.

Pure pieces: `settings`, `targets`, `findings`, `wording`, `report`, `safety`, `certs`.
Edges: `net` (resolver and guarded connections), `smtp_dialogue`, the built-in `checks`,
`registry` (entry points) and `runner` (budgets). docs/checks.md tells the whole story.
"""
