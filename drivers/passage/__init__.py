"""Passage sensing: the turnstile's PASS output, debounced, to PassageSeen readings."""
