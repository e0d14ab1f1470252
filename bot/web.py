"""A tiny static file server for the chat widget and its demo shop page (bot/widget/).

`lingodesk run` starts it next to Rasa so a new user sees the widget working at
http://127.0.0.1:8080/ right after set-up. It is the standard library's http.server: enough
for a demo and for tests; a shop serves bot/widget/ from its own web server or CDN instead.

    python -m bot.web [--host 127.0.0.1] [--port 8080]
"""

from __future__ import annotations

import argparse
import threading
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlencode

WIDGET_DIR = Path(__file__).resolve().parent / "widget"
DEFAULT_RASA_URL = "http://127.0.0.1:5005"


class WidgetRequestHandler(SimpleHTTPRequestHandler):
    """Serves files from the widget directory only: no directory listings, no caching (a
    widget being edited shows up on reload), ``/`` goes to the demo page. Text is declared
    UTF-8: the widget's strings in Arabic or Japanese must not depend on the page's charset."""

    extensions_map: ClassVar[dict[str, str]] = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".html": "text/html; charset=utf-8",
        ".js": "text/javascript; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".md": "text/plain; charset=utf-8",
    }

    def do_GET(self) -> None:
        if self.path in ("", "/"):
            self.send_response(HTTPStatus.FOUND)
            self.send_header("Location", "/demo.html")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def list_directory(self, path: str | Path) -> None:
        self.send_error(HTTPStatus.NOT_FOUND)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: `lingodesk run` shares the terminal with Rasa's logs."""


class WidgetServer:
    """The static server on a background thread; ``port=0`` picks a free port (tests)."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 8080, directory: Path = WIDGET_DIR
    ) -> None:
        handler = partial(WidgetRequestHandler, directory=str(directory))
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def demo_url(self, rasa_url: str = DEFAULT_RASA_URL, **params: str) -> str:
        """The demo page's address; it names the Rasa server only when it is not the default."""
        if rasa_url.rstrip("/") != DEFAULT_RASA_URL:
            params = {"server": rasa_url.rstrip("/"), **params}
        query = f"?{urlencode(params, safe=':/')}" if params else ""
        return f"{self.url}/demo.html{query}"

    def start(self) -> WidgetServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="lingodesk-web", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> WidgetServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the lingodesk widget and demo page.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--rasa-url", default=DEFAULT_RASA_URL, help="where the widget talks to")
    args = parser.parse_args(argv)
    server = WidgetServer(args.host, args.port)
    print(f"Demo shop with the chat widget: {server.demo_url(args.rasa_url)}", flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
