"""Generates the committed gRPC stubs (twin_pb2.py, twin_pb2.pyi, twin_pb2_grpc.py) from twin.proto.

    python bento/build_stubs.py          # rewrite the stubs after editing twin.proto
    python bento/build_stubs.py --check  # exit 1 when the committed stubs differ from the proto

The generator is pinned: it must be grpcio-tools == grpcio == GRPC_VERSION below, the grpcio that
serves the stubs. twin_pb2_grpc.py refuses to import under a grpcio older than the grpcio-tools that
generated it (its GRPC_GENERATED_VERSION check), and twin_pb2.py checks the protobuf runtime
against the protoc bundled with grpcio-tools; so when grpcio is upgraded, upgrade grpcio-tools,
grpcio-health-checking and grpcio-reflection to the same version, change GRPC_VERSION and
regenerate. protoc writes `import twin_pb2` into the grpc module; it is rewritten here into the
package import `from bento import twin_pb2`.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from importlib import metadata
from pathlib import Path

GRPC_VERSION = "1.78.2"  # keep equal to the grpcio pin of the serving environment
HERE = Path(__file__).resolve().parent
PROTO = HERE / "twin.proto"
OUTPUTS = ("twin_pb2.py", "twin_pb2.pyi", "twin_pb2_grpc.py")
_BARE_IMPORT = re.compile(r"^import twin_pb2 as (\w+)$", re.MULTILINE)


def _check_versions() -> None:
    found = {name: metadata.version(name) for name in ("grpcio", "grpcio-tools")}
    wrong = {name: version for name, version in found.items() if version != GRPC_VERSION}
    if wrong:
        raise SystemExit(
            f"build_stubs.py is pinned to grpcio and grpcio-tools {GRPC_VERSION}, found {found}: "
            "install the pinned versions (or move the pin and regenerate)"
        )


def generate(out_dir: Path) -> dict[str, str]:
    """Runs protoc from grpcio-tools into out_dir; returns the fixed files' text by name."""
    _check_versions()
    from grpc_tools import protoc

    include = Path(protoc.__file__).resolve().parent / "_proto"  # google/protobuf/*.proto
    status = protoc.main([
        "grpc_tools.protoc", f"-I{HERE}", f"-I{include}", f"--python_out={out_dir}", f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}", str(PROTO),
    ])
    if status != 0:
        raise SystemExit(f"protoc failed on {PROTO} (exit {status})")
    files = {name: (out_dir / name).read_text() for name in OUTPUTS}
    fixed, count = _BARE_IMPORT.subn(r"from bento import twin_pb2 as \1", files["twin_pb2_grpc.py"])
    if count != 1:
        raise SystemExit("twin_pb2_grpc.py no longer has the one `import twin_pb2` this script rewrites")
    files["twin_pb2_grpc.py"] = fixed
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare the committed stubs with the proto; write nothing")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        files = generate(Path(tmp))
    if args.check:
        stale = [name for name, text in files.items()
                 if not (HERE / name).exists() or (HERE / name).read_text() != text]
        if stale:
            print(f"stale gRPC stubs: {', '.join(stale)}; run python bento/build_stubs.py", file=sys.stderr)
            return 1
        print("gRPC stubs match twin.proto")
        return 0
    for name, text in files.items():
        (HERE / name).write_text(text)
        print(f"wrote {HERE / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
