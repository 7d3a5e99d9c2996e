"""The layers of ``nerve.nn``, one file per kind."""
