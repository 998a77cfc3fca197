#!/usr/bin/env python3
"""Lists the gateway's gRPC services with grpcio's own reflection client.

grpcio-reflection's client (`ProtoReflectionDescriptorDatabase`) speaks only
`grpc.reflection.v1alpha`; department.py checks `grpc.reflection.v1` by path. Together they show
that a department's tooling finds the gateway's services whichever version it speaks.

Environment: GATEWAY_ADDR (host:port, default 127.0.0.1:50051). Exits 1 when the service is not
listed or its descriptor cannot be fetched.
"""

import os
import sys

import grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

SERVICE = "hotline.gateway.v1.DepartmentGateway"


def main():
    addr = os.environ.get("GATEWAY_ADDR", "127.0.0.1:50051")
    with grpc.insecure_channel(addr) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        database = ProtoReflectionDescriptorDatabase(channel)
        try:
            services = list(database.get_services())
            # The descriptor too, not just the name: a client needs it to build requests.
            symbol = database.FindFileContainingSymbol(SERVICE)
        except grpc.RpcError as e:
            print(f"[reflection.py] v1alpha reflection failed: {e.code().name}: {e.details()}", flush=True)
            return 1
        except KeyError as e:
            print(f"[reflection.py] no descriptor for {SERVICE}: {e}", flush=True)
            return 1
    if SERVICE not in services:
        print(f"[reflection.py] v1alpha reflection does not list {SERVICE}: {services}", flush=True)
        return 1
    print(f"[reflection.py] v1alpha reflection lists {SERVICE} (in {symbol.name})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
