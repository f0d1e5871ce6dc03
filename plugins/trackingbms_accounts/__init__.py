"""User accounts: the "database" auth provider, login sessions, API tokens, users and invitations."""
