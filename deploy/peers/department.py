#!/usr/bin/env python3
"""A city department's own system, written in Python, connected to the hotline's gateway.

It is the gateway's protocol peer: it uses nothing from the Rust code but the .proto file, from
which it generates its gRPC stubs at run time (grpcio-tools, into a temporary directory). It

  1. checks that server reflection lists hotline.gateway.v1.DepartmentGateway,
  2. checks that a wrong token is refused with UNAUTHENTICATED,
  3. subscribes (bidi stream) as the department named by TOKEN, with a window of 16,
  4. for each ticket it leads: Accept, AddProgress, Reply, Complete (each with a request_id,
     and the assignment's traceparent as metadata), retries Complete to check idempotency,
     reads the ticket back, then acks the assignment; other assignments are just acked,
  5. exits 0 once EXPECT tickets are completed, 1 on any failure or after WAIT_SECS.

Assignments are deduplicated the way the README tells clients to: by (ticket_no, seq).

Environment (or the matching flags): GATEWAY_ADDR (host:port, default 127.0.0.1:50051), TOKEN
(default demo-gz-th), EXPECT (default 1), WAIT_SECS (default 60).
`--compile-only` only generates and imports the stubs (a check of the proto file).
"""

import argparse
import importlib
import importlib.resources
import os
import queue
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = ROOT / "services" / "gateway" / "proto"
PROTO = "hotline/gateway/v1/gateway.proto"
SERVICE = "hotline.gateway.v1.DepartmentGateway"


class PeerError(Exception):
    """The gateway did not behave as its contract says."""


def log(message):
    print(f"[department.py] {message}", flush=True)


def generate_stubs(out_dir):
    """Runs protoc from grpcio-tools on the gateway's proto and imports the result."""
    include = str(importlib.resources.files("grpc_tools") / "_proto")
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        PROTO,
    ]
    if protoc.main(args) != 0:
        raise PeerError(f"protoc failed on {PROTO_ROOT / PROTO}")
    sys.path.insert(0, out_dir)
    pb = importlib.import_module("hotline.gateway.v1.gateway_pb2")
    rpc = importlib.import_module("hotline.gateway.v1.gateway_pb2_grpc")
    return pb, rpc


def check_reflection(channel, timeout):
    """The gateway serves gRPC reflection v1 (grpcurl and friends rely on it). grpcio-reflection
    ships only the v1alpha messages, which are the same on the wire, so v1 is called by path."""
    from grpc_reflection.v1alpha import reflection_pb2  # noqa: PLC0415

    call = channel.stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    responses = call(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=timeout)
    names = [s.name for r in responses for s in r.list_services_response.service]
    if SERVICE not in names:
        raise PeerError(f"reflection does not list {SERVICE}: {names}")
    log(f"reflection lists {SERVICE}")


def expect_code(code, call, what):
    try:
        call()
    except grpc.RpcError as e:
        if e.code() != code:
            raise PeerError(f"{what}: expected {code.name}, got {e.code().name}: {e.details()}") from e
        return
    raise PeerError(f"{what}: expected {code.name}, but the call succeeded")


class Subscription:
    """The Subscribe stream: a request queue the stream reads, and a reader thread."""

    def __init__(self, pb, stub, metadata):
        self.pb = pb
        self.requests = queue.Queue()
        self.assignments = queue.Queue()
        self.requests.put(pb.SubscribeRequest(options=pb.SubscribeOptions(max_in_flight=16)))
        self.call = stub.Subscribe(self._request_iter(), metadata=metadata)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _request_iter(self):
        while True:
            item = self.requests.get()
            if item is None:
                return
            yield item

    def _read(self):
        try:
            for assignment in self.call:
                self.assignments.put(assignment)
            self.assignments.put(PeerError("the gateway ended the subscription"))
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                self.assignments.put(PeerError(f"subscription failed: {e.code().name}: {e.details()}"))

    def next(self, timeout):
        item = self.assignments.get(timeout=timeout)
        if isinstance(item, Exception):
            raise item
        return item

    def ack(self, assignment):
        self.requests.put(self.pb.SubscribeRequest(ack=self.pb.Ack(delivery_id=assignment.delivery_id)))

    def close(self):
        self.requests.put(None)
        self.call.cancel()


def handle_lead(pb, stub, auth, assignment):
    """Signs for, works on, replies to and completes a ticket this department leads."""
    no = assignment.ticket.ticket_no
    metadata = list(auth)
    if assignment.traceparent:
        metadata.append(("traceparent", assignment.traceparent))
    # Idempotency keys derived from the assignment: a crash and retry never acts twice.
    rid = f"{no}-{assignment.seq}"
    r = stub.Accept(pb.AcceptRequest(ticket_no=no, request_id=f"{rid}-accept"), metadata=metadata)
    log(f"{no}: accepted -> {r.status} (seq {r.seq})")
    stub.AddProgress(
        pb.AddProgressRequest(ticket_no=no, request_id=f"{rid}-progress", note="Crew sent to the site."),
        metadata=metadata,
    )
    stub.Reply(
        pb.ReplyRequest(
            ticket_no=no,
            request_id=f"{rid}-reply",
            text="The problem was inspected and fixed; thank you for reporting it.",
        ),
        metadata=metadata,
    )
    done = pb.CompleteRequest(ticket_no=no, request_id=f"{rid}-complete", note="Fixed.")
    r = stub.Complete(done, metadata=metadata)
    if r.status != "completed":
        raise PeerError(f"{no}: Complete answered status {r.status!r}")
    again = stub.Complete(done, metadata=metadata)
    if not again.replayed or again.seq != r.seq:
        raise PeerError(f"{no}: a retried Complete was not recognised as a retry: {again}")
    detail = stub.GetTicket(pb.GetTicketRequest(ticket_no=no), metadata=metadata)
    steps = [h.step for h in detail.history]
    if detail.ticket.status != "completed" or not {"accept", "reply", "complete"} <= set(steps):
        raise PeerError(f"{no}: read back as {detail.ticket.status} with steps {steps}")
    log(f"{no}: completed; history {steps}")


def run(args):
    with tempfile.TemporaryDirectory(prefix="hotline-peer-") as out_dir:
        pb, rpc = generate_stubs(out_dir)
        log(f"stubs generated from {PROTO}")
        if args.compile_only:
            return 0
        channel = grpc.insecure_channel(args.addr)
        try:
            grpc.channel_ready_future(channel).result(timeout=args.wait)
        except grpc.FutureTimeoutError as e:
            raise PeerError(f"gateway at {args.addr} not reachable within {args.wait}s") from e
        stub = rpc.DepartmentGatewayStub(channel)
        auth = [("authorization", f"Bearer {args.token}")]

        check_reflection(channel, timeout=10)
        expect_code(
            grpc.StatusCode.UNAUTHENTICATED,
            lambda: stub.ListTickets(pb.ListTicketsRequest(), metadata=[("authorization", "Bearer wrong")], timeout=10),
            "a wrong token",
        )
        expect_code(
            grpc.StatusCode.INVALID_ARGUMENT,
            lambda: stub.Accept(pb.AcceptRequest(ticket_no="not-a-number"), metadata=auth, timeout=10),
            "a malformed ticket number",
        )
        log("auth and input checks passed")

        subscription = Subscription(pb, stub, auth)
        highest = {}  # ticket_no -> highest seq handled
        completed = 0
        deadline = time.monotonic() + args.wait
        lead_kinds = {pb.DELIVERY_KIND_DISPATCHED, pb.DELIVERY_KIND_REDISPATCHED, pb.DELIVERY_KIND_RETURN_UPHELD}
        try:
            while completed < args.expect:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PeerError(f"only {completed} of {args.expect} tickets completed in {args.wait}s")
                try:
                    a = subscription.next(timeout=left)
                except queue.Empty:
                    continue
                no = a.ticket.ticket_no
                kind = pb.DeliveryKind.Name(a.kind)
                # Never print the citizen's details: number, kind and seq identify the work.
                log(f"assignment {a.delivery_id}: {kind} {no} seq {a.seq} attempt {a.delivery_attempt}")
                if highest.get(no, 0) >= a.seq:
                    log(f"{no}: seq {a.seq} already handled; acking the duplicate")
                elif a.kind in lead_kinds:
                    handle_lead(pb, stub, auth, a)
                    completed += 1
                highest[no] = max(highest.get(no, 0), a.seq)
                subscription.ack(a)
        finally:
            # Let the last acks go out before closing the stream.
            time.sleep(0.5)
            subscription.close()
            channel.close()
        log(f"{completed} ticket(s) handled end to end")
        return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--addr", default=os.environ.get("GATEWAY_ADDR", "127.0.0.1:50051"))
    parser.add_argument("--token", default=os.environ.get("TOKEN", "demo-gz-th"))
    parser.add_argument("--expect", type=int, default=int(os.environ.get("EXPECT", "1")))
    parser.add_argument("--wait", type=float, default=float(os.environ.get("WAIT_SECS", "60")))
    parser.add_argument("--compile-only", action="store_true")
    args = parser.parse_args()
    try:
        return run(args)
    except PeerError as e:
        log(f"FAILED: {e}")
        return 1
    except grpc.RpcError as e:
        log(f"FAILED: unexpected {e.code().name}: {e.details()}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
