"""``python -m services.recruitment --port N``."""

from infra.main import run
from services.recruitment.app import create_service

run(create_service)
