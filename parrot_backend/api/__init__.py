"""The backend's HTTP service."""
