"""Local accounts: passwords, validation, creation."""
