"""The core: configuration, app assembly, database, auth, and the domain services."""
