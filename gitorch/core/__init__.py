"""gitorch."""
