"""What the server checks of a container image before it runs it, importable without Django or Docker: the
tarball inspection (:mod:`.image_tarball`), the image limits (:mod:`.limits`) and the user rule (:mod:`.users`).
The server (``leaderboard/containers``) and ``covid-triage check-image`` both use them."""
