"""Chalice copies vendor/ into the root of the Lambda bundle: ``lambdas`` (a symlink to
the repository's functions) lands there as the package the handlers name.

This file makes mypy read the symlinked copy as ``vendor.lambdas`` instead of a second
``lambdas``, which it refuses as a duplicate module.
"""
