"""What the plugins share whatever the vendor.

Settings checks, connection-check reports, rejects and run summaries, and how a target stops
on a signal.
"""

__version__ = "0.1.0"
