"""Maintainer tools run from a clone (not part of the installed package)."""
