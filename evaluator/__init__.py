"""Scoring core of the CT-based COVID-19 triage leaderboard.

Pure, typed functions without Django: the site, the Celery workers, the reference
models and the command line (``python -m evaluator``) all call the same code.
"""

SCORER_VERSION = "1.1.0"  # 1.1.0: the result document carries the triage impact (evaluator/worklist.py)
