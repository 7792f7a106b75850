"""The human side of the ``taskq`` command: submit, ls, show, cancel, retry, stats.

Each command talks to a running service through ``taskq.Client`` (``commands.py``) and
draws its answer with rich (``render.py``); ``--json`` prints the API's records instead.
Neither rich nor the client is imported until a command runs, so ``taskq --help`` stays
quick.
"""
