"""Singer target upserting Adobe Campaign Standard profiles and custom resources."""
