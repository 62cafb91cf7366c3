"""The three kinds of failure the stages tell apart."""


class ConfigError(Exception):
    """Bad configuration or usage: exit 2 with one line naming the key and the file."""


class TemporaryError(Exception):
    """Worth retrying later: a server down, a lock held, a 4xx answer."""


class PermanentError(Exception):
    """Retrying will not help: a 5xx answer, a message that cannot be processed."""
