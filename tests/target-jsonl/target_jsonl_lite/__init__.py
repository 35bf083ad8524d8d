"""A minimal Singer JSON Lines loader (the landing zone of the `d365-to-jsonl` job)."""
