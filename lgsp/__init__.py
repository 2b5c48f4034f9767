"""lgsp package."""
