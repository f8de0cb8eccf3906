#!/usr/bin/env python3
"""Readiness probes for scripts/services (standard library only).

    probe.py kafka HOST PORT      the broker answers ApiVersions without error, and a Metadata
                                  request lists a broker and an active controller
    probe.py health URL           GET URL/_cluster/health answers status green or yellow
    probe.py settings URL JSON    PUT JSON to URL/_cluster/settings (not a probe; no retry)

Exit 0 when ready, 1 otherwise (the reason on stderr). Each probe gives up after 3 s.
"""
import json
import socket
import struct
import sys
import urllib.error
import urllib.request

TIMEOUT = 3.0
CLIENT_ID = b"newswatch-probe"


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        buf += chunk
    return buf


def _kafka_call(sock, api_key, api_version, correlation_id, body):
    # Request header v1: api_key, api_version, correlation_id, client_id.
    header = struct.pack(">hhih", api_key, api_version, correlation_id, len(CLIENT_ID)) + CLIENT_ID
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    data = _recv_exact(sock, size)
    (corr,) = struct.unpack(">i", data[:4])
    if corr != correlation_id:
        raise ValueError("correlation id mismatch")
    return data[4:]  # response header v0 is just the correlation id


def _kafka_string(data, pos):
    (n,) = struct.unpack(">h", data[pos:pos + 2])
    pos += 2
    if n < 0:
        return None, pos
    return data[pos:pos + n].decode("utf-8", "replace"), pos + n


def probe_kafka(host, port):
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
        sock.settimeout(TIMEOUT)
        data = _kafka_call(sock, 18, 0, 1, b"")  # ApiVersions v0
        error_code, count = struct.unpack(">hi", data[:6])
        if error_code != 0:
            return "ApiVersions error_code=%d" % error_code
        versions = {}
        pos = 6
        for _ in range(count):
            key, vmin, vmax = struct.unpack(">hhh", data[pos:pos + 6])
            versions[key] = (vmin, vmax)
            pos += 6
        vmin, vmax = versions.get(3, (0, -1))
        if not vmin <= 4 <= vmax:
            return None  # no Metadata v4 on this broker: ApiVersions alone must do
        # Metadata v4: empty topic list (brokers only), allow_auto_topic_creation=false.
        data = _kafka_call(sock, 3, 4, 2, struct.pack(">ib", 0, 0))
        pos = 4  # throttle_time_ms
        (nbrokers,) = struct.unpack(">i", data[pos:pos + 4])
        pos += 4
        for _ in range(nbrokers):
            pos += 4  # node_id
            _, pos = _kafka_string(data, pos)  # host
            pos += 4  # port
            _, pos = _kafka_string(data, pos)  # rack
        _, pos = _kafka_string(data, pos)  # cluster_id
        (controller_id,) = struct.unpack(">i", data[pos:pos + 4])
        if nbrokers < 1:
            return "Metadata lists no broker yet"
        if controller_id < 0:
            return "Metadata shows no active controller yet"
        return None


def probe_health(url):
    req = urllib.request.Request(url.rstrip("/") + "/_cluster/health", headers={"Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
        status = json.load(resp).get("status")
    if status not in ("green", "yellow"):
        return "cluster health is %s" % status
    return None


def put_settings(url, body):
    req = urllib.request.Request(
        url.rstrip("/") + "/_cluster/settings",
        data=body.encode("utf-8"),
        method="PUT",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
        answer = json.load(resp)
    if not answer.get("acknowledged"):
        return "settings not acknowledged: %s" % answer
    return None


def main(argv):
    if len(argv) < 3 or argv[1] not in ("kafka", "health", "settings"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        if argv[1] == "kafka":
            problem = probe_kafka(argv[2], argv[3])
        elif argv[1] == "settings":
            problem = put_settings(argv[2], argv[3])
        else:
            problem = probe_health(argv[2])
    except (OSError, ValueError, IndexError, struct.error, urllib.error.URLError) as exc:
        problem = "%s: %s" % (type(exc).__name__, exc)
    if problem:
        print("probe %s: %s" % (" ".join(argv[2:]), problem), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
