"""The web dashboard: a page and its static files, built on the JSON API.

It holds no logic of its own on the server: the page's scripts read and steer taskq
through the same endpoints as any client (``/tasks``, ``/queues``, ``/stats``,
``/events``…), so what it shows is what the API answers.
"""
