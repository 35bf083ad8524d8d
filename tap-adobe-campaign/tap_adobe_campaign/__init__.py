"""Singer tap for Adobe Campaign: profiles, email events and opt-outs."""

__version__ = "0.1.0"
