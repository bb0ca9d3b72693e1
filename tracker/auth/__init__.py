"""Login, users, workspaces and roles, API tokens."""
