"""The server's container code, shared with the participant's client (``leaderboard.containers`` re-exports it).

Importable without Django or Docker: the tarball inspection (:mod:`.image_tarball`), the limits (:mod:`.limits`)
and the user rule (:mod:`.users`), which ``covid-triage check-image`` uses. The rest needs the Docker SDK (the
``containers`` extra): loading images (:mod:`.images`), ``/input`` (:mod:`.input_dir`), the run
(:mod:`.sandbox`, with :mod:`.holder`, :mod:`.logs`, :mod:`.output`, :mod:`.client`) and ``covid-triage
run-local`` (:mod:`.run_local`). This package imports none of them itself.
"""
