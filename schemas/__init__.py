"""The shapes that cross the wire: request validation and response serialization (pydantic models)."""
