"""The core: configuration, database, crypto, clock, logs, errors, ids, indexes, storage, auth, permissions.

Nothing here imports a domain package, notify (but its sender interface), the HTTP layer or the app.
"""
