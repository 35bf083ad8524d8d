"""Singer target upserting Adobe Campaign Standard profiles and custom resources."""

__version__ = "0.1.0"
