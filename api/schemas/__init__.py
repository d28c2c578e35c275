"""Pydantic models at the edge of the API: what clients send and what they get back."""
