#!/usr/bin/env python3
"""Smoke check of the MCP test peers: each answers `initialize` + `tools/list` (and, where it
speaks the 2026-07-28 protocol, `server/discover`), over stdio, and server-everything over
Streamable HTTP. Python 3.11 standard library only, so it runs before any venv exists.

Usage:
  probe.py all PEERS_DIR            every peer install-mcp-peers.sh put in PEERS_DIR, plus
                                    tests/fixtures/mcp/fixture.py in both eras; exit 1 if any fails
  probe.py stdio [--discover] -- CMD [ARGS...]   one stdio server; prints what it saw as JSON
  probe.py http URL                 one Streamable HTTP endpoint (e.g. http://127.0.0.1:PORT/mcp)
"""

import json
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

TIMEOUT = 30.0
CLIENT_INFO = {"name": "pyra-peer-probe", "version": "1.0"}
ENVELOPE = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
    "io.modelcontextprotocol/clientCapabilities": {},
}
INITIALIZE = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": CLIENT_INFO}
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "mcp", "fixture.py")


class Stdio:
    """One stdio server: newline-delimited JSON-RPC, stderr collected on the side."""

    def __init__(self, cmd, **popen):
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen
        )
        self.lines = queue.Queue()
        self.stderr = []
        self.next_id = 0
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read_out(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _read_err(self):
        for line in self.proc.stderr:
            self.stderr.append(line.decode("utf-8", "replace").rstrip("\n"))

    def notify(self, method, params=None):
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
        self.proc.stdin.flush()

    def request(self, method, params=None):
        self.next_id += 1
        rid = self.next_id
        msg = {"jsonrpc": "2.0", "id": rid, "method": method, "params": params or {}}
        self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"no answer to {method} within {TIMEOUT:g} s") from None
            if line is None:
                raise RuntimeError(f"stdout closed before the answer to {method} (exit {self.proc.poll()})")
            reply = json.loads(line)
            if reply.get("id") == rid and "method" not in reply:
                return reply

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def tool_summary(tools):
    return {
        "count": len(tools),
        "read_only": sum(1 for t in tools if (t.get("annotations") or {}).get("readOnlyHint") is True),
        "names": [t["name"] for t in tools],
    }


def probe_stdio(cmd, discover=False, **popen):
    server = Stdio(cmd, **popen)
    seen = {"command": cmd}
    try:
        if discover:
            # As rmcp's ClientLifecycleMode::Auto does: probe, and fall back to initialize
            # on the same connection when the server does not know server/discover.
            reply = server.request("server/discover", {"_meta": ENVELOPE})
            seen["discover"] = reply.get("result") or {"error": reply.get("error")}
            if "result" in reply:
                seen["protocolVersion"] = "2026-07-28"
                seen["serverInfo"] = (reply["result"].get("_meta") or {}).get("io.modelcontextprotocol/serverInfo")
                seen["capabilities"] = sorted(reply["result"].get("capabilities", {}))
                reply = server.request("tools/list", {"_meta": ENVELOPE})
                if "error" in reply:
                    raise RuntimeError(f"stateless tools/list failed: {reply['error']}")
                seen["tools"] = tool_summary(reply["result"]["tools"])
                return seen
        reply = server.request("initialize", INITIALIZE)
        if "error" in reply:
            raise RuntimeError(f"initialize failed: {reply['error']}")
        seen["protocolVersion"] = reply["result"]["protocolVersion"]
        seen["serverInfo"] = reply["result"].get("serverInfo")
        seen["capabilities"] = sorted(reply["result"].get("capabilities", {}))
        server.notify("notifications/initialized")
        reply = server.request("tools/list")
        if "error" in reply:
            raise RuntimeError(f"tools/list failed: {reply['error']}")
        seen["tools"] = tool_summary(reply["result"]["tools"])
    finally:
        seen["exit"] = server.close()
        seen["stderr"] = server.stderr[:5]
    return seen


def post(url, msg, session=None):
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-11-25",
    }
    if session:
        headers["Mcp-Session-Id"] = session
    req = urllib.request.Request(url, data=json.dumps(msg).encode(), headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
        body = resp.read().decode()
        sid = resp.headers.get("Mcp-Session-Id")
        ctype = resp.headers.get("Content-Type", "")
    if not body.strip():
        return None, sid
    if ctype.startswith("text/event-stream"):
        for line in body.splitlines():
            # Skip the empty priming event (SEP-1699) that precedes the answer.
            if line.startswith("data:") and line[5:].strip():
                data = json.loads(line[5:].strip())
                if data.get("id") == msg.get("id"):
                    return data, sid
        raise RuntimeError(f"no answer to {msg['method']} in the event stream: {body[:300]}")
    return json.loads(body), sid


def probe_http(url):
    seen = {"url": url}
    reply, session = post(url, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INITIALIZE})
    seen["protocolVersion"] = reply["result"]["protocolVersion"]
    seen["serverInfo"] = reply["result"].get("serverInfo")
    seen["session"] = bool(session)
    post(url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    reply, _ = post(url, {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}, session)
    seen["tools"] = tool_summary(reply["result"]["tools"])
    if session:
        req = urllib.request.Request(url, headers={"Mcp-Session-Id": session}, method="DELETE")
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            seen["delete"] = resp.status
    return seen


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def probe_everything_http(bin_path):
    port = free_port()
    proc = subprocess.Popen(
        [bin_path, "streamableHttp"],
        env={**os.environ, "PORT": str(port)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        # It says "listening on port N" on stderr once bound.
        line = proc.stderr.readline().decode()
        if "listening" not in line:
            raise RuntimeError(f"server-everything did not start: {line!r}")
        return probe_http(f"http://127.0.0.1:{port}/mcp")
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(10)


def check_all(peers):
    bins = os.path.join(peers, "node_modules", ".bin")
    venv = os.path.join(peers, "venv", "bin")
    scratch = tempfile.mkdtemp(prefix="pyra-peer-probe-")
    repo = os.path.join(scratch, "repo")
    subprocess.run(["git", "init", "-q", repo], check=True)
    tools_file = os.path.join(scratch, "tools.json")
    with open(tools_file, "w") as f:
        json.dump([{"name": "echo", "description": "from a file", "inputSchema": {"type": "object"}}], f)
    # name, command, fewest tools expected; each is probed twice: with initialize, and with
    # server/discover first (falling back to initialize where the server lacks it).
    checks = [
        ("server-everything", [os.path.join(bins, "mcp-server-everything"), "stdio"], 13),
        ("server-filesystem", [os.path.join(bins, "mcp-server-filesystem"), scratch], 14),
        ("server-memory", [os.path.join(bins, "mcp-server-memory")], 9),
        # Chromium starts only at the first tool call, so listing needs no browser.
        (
            "playwright-mcp",
            [os.path.join(bins, "playwright-mcp"), "--headless", "--isolated", "--no-sandbox",
             "--output-dir", os.path.join(scratch, "playwright")],
            25,
        ),
        ("mcp-server-time", [os.path.join(venv, "mcp-server-time"), "--local-timezone", "UTC"], 2),
        ("mcp-server-git", [os.path.join(venv, "mcp-server-git"), "--repository", repo], 12),
        ("mcp-server-fetch", [os.path.join(venv, "mcp-server-fetch")], 1),
        ("fixture", [sys.executable, FIXTURE], 9),
        ("fixture --era 2026", [sys.executable, FIXTURE, "--era", "2026"], 9),
        ("fixture --tools", [sys.executable, FIXTURE, "--tools", tools_file], 1),
    ]
    failed = 0
    memory_env = {**os.environ, "MEMORY_FILE_PATH": os.path.join(scratch, "memory.jsonl")}
    for name, cmd, tools in checks:
        for discover in (False, True):
            try:
                seen = probe_stdio(cmd, discover, cwd=scratch, env=memory_env)
                ok = seen["tools"]["count"] >= tools
                info = seen["serverInfo"] or {}
                detail = f"{info.get('name')} {info.get('version')}, protocol {seen['protocolVersion']}, {seen['tools']['count']} tools"
                if discover:
                    d = seen["discover"]
                    detail += f" (server/discover: {d.get('supportedVersions') or d.get('error', {}).get('code')})"
            except Exception as e:  # report every peer, not the first failure
                ok, detail = False, str(e)
            failed += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name} [{'discover' if discover else 'initialize'}]: {detail}")
    try:
        seen = probe_everything_http(os.path.join(bins, "mcp-server-everything"))
        print(f"ok   server-everything over Streamable HTTP: {seen['tools']['count']} tools, session {seen['session']}")
    except Exception as e:
        failed += 1
        print(f"FAIL server-everything over Streamable HTTP: {e}")
    subprocess.run(["rm", "-rf", scratch], check=False)
    return 1 if failed else 0


def main(argv):
    if len(argv) >= 2 and argv[0] == "all":
        return check_all(argv[1])
    if len(argv) >= 2 and argv[0] == "http":
        print(json.dumps(probe_http(argv[1]), indent=2))
        return 0
    if argv and argv[0] == "stdio":
        rest = argv[1:]
        discover = "--discover" in rest[: rest.index("--")] if "--" in rest else False
        cmd = rest[rest.index("--") + 1 :] if "--" in rest else rest
        if cmd:
            print(json.dumps(probe_stdio(cmd, discover), indent=2))
            return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
