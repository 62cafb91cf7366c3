"""The built-in checks, each declared as an entry point of `mailtickets.checks`."""
