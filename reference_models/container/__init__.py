"""Packaging a reference method as a container image that satisfies the leaderboard's container contract."""
