"""The ``raynas`` command line."""
