"""A Nextcloud-shaped DAV server for the `nextcloud` plugin's tests: Radicale (CalDAV and
CardDAV) and WsgiDAV (WebDAV) behind one WSGI dispatcher on cheroot, under Nextcloud's
paths, with one user alice/alicepass:

  /remote.php/dav/calendars/alice/...           -> Radicale's /alice/...
  /remote.php/dav/addressbooks/users/alice/...  -> Radicale's /alice/...
  /remote.php/dav/files/alice/...               -> WsgiDAV, a folder in DIR
  /hostile/malformed/...                        -> a 207 that is not XML
  /hostile/huge/...                             -> a 207 multistatus of 12 MB

Radicale takes the part before /alice/ as SCRIPT_NAME, so its hrefs carry Nextcloud's
paths. The calendar `personal` and the address book `contacts` (with Jane Doe in it)
exist from the start.

Usage: $PYRA_PLUGIN_PEERS/bin/python3 nextcloud_peer.py DIR
Prints `port N` once listening on 127.0.0.1 (a port the system chose), and exits when
its stdin closes (the test binary that started it is gone).
"""

import os
import sys
import threading

from cheroot import wsgi
import radicale
from radicale import config as radicale_config
from wsgidav.wsgidav_app import WsgiDAVApp

USER, PASSWORD = "alice", "alicepass"
JANE = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:jane-doe\r\nFN:Jane Doe\r\nN:Doe;Jane;;;\r\n"
    "EMAIL;TYPE=INTERNET:jane@example.org\r\nTEL;TYPE=CELL:+49 30 1234567\r\n"
    "ORG:ACME Research\r\nEND:VCARD\r\n"
)
BOB = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:bob-roe\r\nFN:Bob Roe\r\nN:Roe;Bob;;;\r\n"
    "EMAIL:bob@example.net\r\nEND:VCARD\r\n"
)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def radicale_app(root):
    users = os.path.join(root, "users")
    write(users, f"{USER}:{PASSWORD}\n")
    collections = os.path.join(root, "collections")
    home = os.path.join(collections, "collection-root", USER)
    write(os.path.join(home, "personal", ".Radicale.props"), '{"tag": "VCALENDAR"}')
    write(os.path.join(home, "contacts", ".Radicale.props"), '{"tag": "VADDRESSBOOK"}')
    write(os.path.join(home, "contacts", "jane-doe.vcf"), JANE)
    write(os.path.join(home, "contacts", "bob-roe.vcf"), BOB)
    conf = os.path.join(root, "radicale.conf")
    write(
        conf,
        "[auth]\ntype = htpasswd\n"
        f"htpasswd_filename = {users}\nhtpasswd_encryption = plain\ndelay = 0\n"
        "[rights]\ntype = owner_only\n"
        f"[storage]\nfilesystem_folder = {collections}\n"
        "[logging]\nlevel = warning\n",
    )
    return radicale.Application(radicale_config.load([(conf, False)]))


def wsgidav_app(root):
    files = os.path.join(root, "files")
    os.makedirs(files, exist_ok=True)
    return WsgiDAVApp({
        "provider_mapping": {f"/remote.php/dav/files/{USER}": files},
        "simple_dc": {"user_mapping": {"*": {USER: {"password": PASSWORD}}}},
        "http_authenticator": {"accept_basic": True, "accept_digest": False, "default_to_digest": False},
        "dir_browser": {"enable": False},
        "logging": {"enable": False},
        "verbose": 0,
    })


def hostile(environ, start_response):
    path = environ.get("PATH_INFO", "")
    start_response("207 Multi-Status", [("Content-Type", "application/xml; charset=utf-8")])
    if path.startswith("/hostile/malformed/"):
        return [b"<?xml version='1.0'?><d:multistatus xmlns:d='DAV:'><d:response><d:href>/x</d:href></d:multistatus"]
    head = b"<?xml version='1.0'?><d:multistatus xmlns:d='DAV:'>"
    one = b"<d:response><d:href>/hostile/huge/x.ics</d:href></d:response>" * 1000
    return [head] + [one] * 200 + [b"</d:multistatus>"]


def dispatcher(root):
    cal, files = radicale_app(root), wsgidav_app(root)
    prefixes = ("/remote.php/dav/calendars", "/remote.php/dav/addressbooks/users")

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith(f"/remote.php/dav/files/{USER}"):
            return files(environ, start_response)
        for prefix in prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                environ = dict(environ, SCRIPT_NAME=prefix, PATH_INFO=path[len(prefix):] or "/")
                return cal(environ, start_response)
        if path.startswith("/hostile/"):
            return hostile(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not a path of this peer\n"]

    return app


def main():
    root = sys.argv[1]
    server = wsgi.Server(("127.0.0.1", 0), dispatcher(root), numthreads=4)
    server.prepare()
    print(f"port {server.bind_addr[1]}", flush=True)

    def watch_stdin():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    server.serve()


if __name__ == "__main__":
    main()
