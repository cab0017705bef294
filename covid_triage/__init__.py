"""The participant's client of the leaderboard: submit, wait, results, quota (``covid-triage``).

Standard library only (urllib) on top of the scorer package, so that ``pip install ./`` stays slim.
"""
