"""``python -m parrot_backend`` runs the ``parrot`` command."""

from parrot_backend.cli import app

app()
