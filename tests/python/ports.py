"""Free local ports, for the tests (conftest.py) and the benchmark harness (bench/run_bench.py)."""
import socket


def free_ports(n: int) -> list:
    """n different free ports: the sockets are held together, since a port probed and released
    can be handed out again by the next probe (a service once got the same port for its gRPC and
    admin listeners and refused to start)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port() -> int:
    return free_ports(1)[0]
