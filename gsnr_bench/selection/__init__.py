"""Data selectors: score every pool example, keep the top fraction."""
