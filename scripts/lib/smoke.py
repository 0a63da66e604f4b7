"""Smoke call to a running Concord service: health and the reflected service list."""
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc


def main(address: str, service: str) -> int:
    with grpc.insecure_channel(address) as channel:
        status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=3).status
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=3)
        services = sorted(s.name for r in replies for s in r.list_services_response.service)
    name = health_pb2.HealthCheckResponse.ServingStatus.Name(status)
    print(f"  {address:<17} {service:<40} {name:<12} reflection: {', '.join(services)}")
    return 0 if status == health_pb2.HealthCheckResponse.SERVING and service in services else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
