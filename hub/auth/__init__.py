"""Authentication and authorization: principals, the policy table, tenant scopes, the auth middleware."""
