"""Formats: kinds of stored chat memory that goldens can guard (memfix's own and the frameworks')."""
