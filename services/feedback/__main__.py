"""``python -m services.feedback --port N``."""

from infra.main import run
from services.feedback.app import create_service

run(create_service)
