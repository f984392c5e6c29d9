"""ASGI entry point for uvicorn workers: ``uvicorn gridsvc.asgi:app``."""

from gridsvc.app import create_app

app = create_app()
