"""WSGI entry point (``gunicorn leaderboard.wsgi``).

Once Django is set up, the URL configuration and with it every view module is imported (Django would import them
at the first request), and every object alive then — a few hundred thousand: modules, classes, functions of
Django, numpy, scipy and scikit-learn — is moved out of the cyclic garbage collector's sight (``gc.freeze``). They
live as long as the process anyway; without this, each full collection scans them all and stalls every thread of
the worker for tens to hundreds of milliseconds under load (docs/benchmarks.md, "The board at the scale of a
popular challenge"). Objects created later, such as cached boards, are collected as usual.
"""

import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard.settings")
application = get_wsgi_application()
get_resolver().url_patterns  # noqa: B018 - imports every view now, before the freeze
gc.collect()
gc.freeze()
