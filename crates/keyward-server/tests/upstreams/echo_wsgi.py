"""An upstream on Python's wsgiref: answers every request with what a WSGI application sees.

Usage: python3 echo_wsgi.py PORT. wsgiref maps every header to an environ key, `-` and `_`
alike (x_keyward_principal and X-Keyward-Principal are both HTTP_X_KEYWARD_PRINCIPAL), joining
repeats with a comma, as most WSGI servers do.
"""
import json
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server


def app(environ, start_response):
    served = {
        "server": "wsgiref",
        "method": environ["REQUEST_METHOD"],
        # PATH_INFO is the decoded path the application routes on.
        "path": environ.get("PATH_INFO", ""),
        "principal": environ.get("HTTP_X_KEYWARD_PRINCIPAL"),
        "permissions": environ.get("HTTP_X_KEYWARD_PERMISSIONS"),
        "reseller": environ.get("HTTP_X_KEYWARD_RESELLER"),
        "forwarded_for": environ.get("HTTP_X_FORWARDED_FOR"),
        "cookie": environ.get("HTTP_COOKIE"),
    }
    body = json.dumps(served).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


server = make_server("127.0.0.1", int(sys.argv[1]), app, handler_class=Quiet)
server.serve_forever()
