"""Access control: accounts, tokens, roles and scopes (see policy.py for who may do what)."""
