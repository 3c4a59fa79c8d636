# crossgrade's relay: reaches a trial's containers from inside the trial's network for a harness
# that cannot reach them itself (the engine is on another host, rootless, or in a VM). The harness
# runs it with `python3 -u -c` in a helper container on the trial's network, in one exec whose
# stdin and stdout the engine streams, and writes one JSON request per line:
#
#   {"id": 7, "op": "http", "host": "10.0.3.2", "port": 8080, "method": "GET", "path": "/health",
#    "body": null, "timeout": 1.0}
#   {"id": 8, "op": "tcp", "host": "10.0.3.2", "port": 8080, "timeout": 0.5}
#   {"id": 9, "op": "ping"}
#
# It answers each on one line of stdout, with the request's id, as soon as it is done (requests run
# on threads of their own, so a slow one holds up no other):
#
#   {"id": 7, "status": 200, "body": "ok"}     or  {"id": 7, "error": "Connection refused"}
#   {"id": 8, "open": true}                    or  {"id": 8, "open": false, "error": "timed out"}
#   {"id": 9, "pong": true}
#
# Its first line is {"ready": true}. HTTP redirects are followed as the harness's own client
# (reqwest) follows them when it reaches the containers directly: at most 10; 301 and 302 turn a
# POST into a GET without its body, 303 turns anything but HEAD into one; 307 and 308 repeat the
# request. It ends when stdin does.
import http.client
import json
import socket
import sys
import threading
from urllib.parse import urljoin, urlsplit

OUT = threading.Lock()
REDIRECTS = 10


def say(reply):
    line = (json.dumps(reply) + "\n").encode()
    with OUT:
        sys.stdout.buffer.write(line)
        sys.stdout.buffer.flush()


def why(e):
    return getattr(e, "strerror", None) or str(e) or type(e).__name__


def in_url(host):
    return "[%s]" % host if ":" in host else host


def fetch(req):
    method, host, port, path = req["method"], req["host"], req["port"], req["path"]
    body = req.get("body")
    body = None if body is None else body.encode()
    for _ in range(REDIRECTS + 1):
        conn = http.client.HTTPConnection(host, port, timeout=req["timeout"])
        try:
            conn.request(method, path, body=body, headers={"Accept": "*/*"})
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        location = resp.getheader("Location")
        if resp.status not in (301, 302, 303, 307, 308) or location is None:
            return {"status": resp.status, "body": data.decode("utf-8", "replace")}
        if (resp.status in (301, 302) and method == "POST") or (
            resp.status == 303 and method != "HEAD"
        ):
            method, body = "GET", None
        elif resp.status == 303:
            body = None
        here = "http://%s:%d%s" % (in_url(host), port, path)
        url = urlsplit(urljoin(here, location))
        if url.scheme != "http" or not url.hostname:
            return {"error": "redirected to %s, which is not a plain HTTP address" % location}
        host, port = url.hostname, url.port or 80
        path = (url.path or "/") + ("?" + url.query if url.query else "")
    return {"error": "too many redirects"}


def probe(req):
    try:
        socket.create_connection((req["host"], req["port"]), timeout=req["timeout"]).close()
        return {"open": True}
    except OSError as e:
        return {"open": False, "error": why(e)}


def serve(req):
    op = req.get("op")
    try:
        if op == "http":
            reply = fetch(req)
        elif op == "tcp":
            reply = probe(req)
        else:
            reply = {"error": "unknown op %r" % (op,)}
    except Exception as e:  # the system's answer: refused, reset, timed out, not HTTP
        reply = {"error": why(e)}
    reply["id"] = req.get("id")
    say(reply)


say({"ready": True})
for line in sys.stdin.buffer:
    try:
        req = json.loads(line)
    except ValueError as e:
        say({"id": None, "error": "not a request: %s" % e})
        continue
    if req.get("op") == "ping":
        say({"id": req.get("id"), "pong": True})
        continue
    threading.Thread(target=serve, args=(req,), daemon=True).start()
