"""Serve the HTTP API with uvicorn (the only uvicorn import) until ``stop`` is set."""

from __future__ import annotations

import ssl
import threading

import uvicorn
from starlette.types import ASGIApp

from gitorch.api.app import make_app
from gitorch.config_tls import TlsSettings
from gitorch.server.backend import Backend, ClientBackend, ClusterBackend


def serve(
    backend: Backend,
    client: ClientBackend | None,
    host: str,
    port: int,
    *,
    acl_tokens: set[str] | None,
    stop: threading.Event,
    cluster: ClusterBackend | None = None,
) -> None:
    app = make_app(backend, client, acl_tokens=acl_tokens, cluster=cluster)
    serve_app(app, host, port, stop=stop)


def serve_app(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    stop: threading.Event,
    tls: TlsSettings | None = None,
) -> None:
    """Run ``app`` on host:port in a thread until ``stop`` is set; HTTPS with ``tls.http``
    (and client certificates required with ``tls.verify_https_client``)."""
    tls = tls or TlsSettings()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        ssl_certfile=tls.cert_file if tls.http else None,
        ssl_keyfile=tls.key_file if tls.http else None,
        ssl_ca_certs=tls.ca_file if tls.http and tls.ca_file else None,
        ssl_cert_reqs=ssl.CERT_REQUIRED if tls.verify_https_client else ssl.CERT_NONE,
    )
    server = uvicorn.Server(config)
    # In a thread of its own, uvicorn leaves signal handling to the agent.
    thread = threading.Thread(target=server.run, name="http", daemon=True)
    thread.start()
    while not stop.wait(0.5):
        if not thread.is_alive():
            raise OSError(f"HTTP server on {host}:{port} stopped (is the port in use?)")
    server.should_exit = True
    thread.join(timeout=5)
