"""Photo My City: residents, their identity, and the street problems they report."""
