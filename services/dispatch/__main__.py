"""``python -m services.dispatch --port N``."""

from infra.main import run
from services.dispatch.app import create_service

run(create_service)
