"""Small shared utilities: atomic writes, where the app keeps its files, argument checks."""
