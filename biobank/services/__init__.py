"""Business rules. Plain arguments in, models out; ``flush()``, never commit; no flask.request."""
