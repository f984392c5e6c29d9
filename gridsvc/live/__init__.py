"""Live updates: one LISTEN connection per app process fanned out to SSE clients by scope."""
