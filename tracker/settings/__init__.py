"""The settings pages: the account, workspace members, API tokens, what the tracker runs with."""
