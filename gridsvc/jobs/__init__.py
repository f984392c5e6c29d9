"""Background jobs: the pgqueuer client (queue) and ordered outbox delivery (delivery)."""
