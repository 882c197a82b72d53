"""``python -m services.rounds --port N``."""

from infra.main import run
from services.rounds.app import create_service

run(create_service)
