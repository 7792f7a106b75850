"""Side-by-side benchmark of taskq against peer task queues (see benchmarks/README.md)."""
