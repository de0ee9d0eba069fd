"""memfix's pytest plugin (filled in by the goldens work)."""
