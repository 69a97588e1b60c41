"""Shared infrastructure: app factory, configuration, database, errors, auth, jobs, storage, admin shell."""
