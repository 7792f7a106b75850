"""What many tests share: waiting for a condition with a deadline, a worker in the background."""
