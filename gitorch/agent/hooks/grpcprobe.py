"""The one adapter of grpcio: a ``grpc`` check calls ``grpc.health.v1.Health/Check``
(grpcio-health-checking's stubs) and passes when the answer is ``SERVING``.

``service`` is the check's ``grpc_service`` ("": the server as a whole, as the gRPC
health protocol defines). ``use_tls`` dials TLS verified against the system's
certificate authorities; grpcio has no way to skip verification, so the jobspec refuses
``tls_skip_verify`` on a grpc check rather than pretend.
"""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def check(host: str, port: int, service: str, *, use_tls: bool, timeout: float) -> tuple[bool, str]:
    """One Health/Check call: (passing, output). Never raises."""
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    channel = (
        grpc.secure_channel(target, grpc.ssl_channel_credentials())
        if use_tls
        else grpc.insecure_channel(target)
    )
    what = f"gRPC check {target}" + (f" service {service!r}" if service else "")
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service=service)
        answer = stub.Check(request, timeout=timeout)
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
        return answer.status == health_pb2.HealthCheckResponse.SERVING, f"{what}: {status}"
    except grpc.RpcError as exc:
        code = exc.code() if isinstance(exc, grpc.Call) else None
        details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
        name = code.name if code is not None else "UNKNOWN"
        return False, f"{what}: {name}: {details}"
    except ValueError as exc:  # a malformed target
        return False, f"{what}: {exc}"
    finally:
        channel.close()
