"""Helpers every test package shares: factories, the served stack, realistic media files, lock and statement
watchers."""
