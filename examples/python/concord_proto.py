"""Python stubs for Concord's .proto files, generated on first use with grpcio-tools.

Another team needs nothing but the .proto files: this module compiles them (and nothing
else) into a cache folder and puts it on sys.path.

    import concord_proto
    concord_proto.load()
    from concord.alignment.v1 import alignment_pb2
"""
import hashlib
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = Path(os.environ.get("CONCORD_PROTO_DIR", ROOT / "proto"))


def _digest(files):
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(PROTO_DIR)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def load(out_dir: str | None = None) -> Path:
    """Generates the stubs if the .proto files changed since last time; returns their folder."""
    files = sorted(PROTO_DIR.glob("concord/**/*.proto"))
    if not files:
        raise RuntimeError(f"no .proto files under {PROTO_DIR}")
    base = Path(out_dir or os.environ.get("CONCORD_PY_STUBS", Path.home() / ".cache" / "concord" / "pystubs"))
    target = base / _digest(files)
    if not (target / ".done").exists():
        from grpc_tools import protoc
        import grpc_tools

        target.mkdir(parents=True, exist_ok=True)
        well_known = Path(grpc_tools.__file__).parent / "_proto"
        args = ["protoc", f"-I{PROTO_DIR}", f"-I{well_known}", f"--python_out={target}", f"--grpc_python_out={target}"]
        if protoc.main(args + [str(f) for f in files]) != 0:
            raise RuntimeError("protoc failed on " + str(PROTO_DIR))
        for d in [p for p in target.rglob("*") if p.is_dir()] + [target]:
            (d / "__init__.py").touch()
        (target / ".done").touch()
    if str(target) not in sys.path:
        sys.path.insert(0, str(target))
    return target
