"""mailtickets: an email-driven ticketing daemon for a support mailbox."""

__version__ = "0.1.0"
