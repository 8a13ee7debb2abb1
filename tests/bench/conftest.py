"""The downstream tests' fixtures (offline flags, a private cache, a tiny saved ELECTRA)."""
from tests.tasks.conftest import offline_and_private_cache, tiny_model_dir  # noqa: F401
