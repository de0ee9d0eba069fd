"""Formats: the kinds of stored chat memory that goldens guard (memfix's own, the frameworks')."""
