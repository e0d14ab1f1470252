"""rasa-webchat, the widget most Rasa shops already embed, for the browser tests: fetched from
the npm registry by scripts/setup (``npm pack rasa-webchat@1.0.1`` into build/, its Apache-2.0
licence kept beside it; `fetch_webchat` does the same when set-up could not), and a shop page
that embeds it as its README documents, served from a local port. Nothing of its protocol is
written here: the page runs rasa-webchat's own bundle."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

VERSION = "1.0.1"
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A shop with rasa-webchat</title></head>
<body>
<h1>A shop that already uses rasa-webchat</h1>
<div id="webchat"></div>
<script src="rasa-webchat/index.js"></script>
<script>
  window.WebChat.default({config}, null);
</script>
</body></html>
"""


def fetch_webchat(cache: Path) -> Path:
    """``cache/rasa-webchat-<version>``, holding rasa-webchat's bundle (index.js) and LICENSE,
    fetched unless set-up did."""
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"rasa-webchat-{VERSION}"
    if (target / "index.js").is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is missing: install Debian's npm (the test fetches rasa-webchat with it)")
    packed = subprocess.run(
        [npm, "pack", f"rasa-webchat@{VERSION}", "--silent"],
        cwd=cache, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if packed.returncode != 0:
        pytest.fail(f"npm pack rasa-webchat@{VERSION} failed: {packed.stderr.strip()[-500:]}")
    archive = cache / packed.stdout.strip().splitlines()[-1]
    target.mkdir(exist_ok=True)
    with tarfile.open(archive) as tar:
        for name, kept in (("package/lib/index.js", "index.js"), ("package/LICENSE", "LICENSE")):
            member = tar.extractfile(name)
            assert member is not None, name
            (target / kept).write_bytes(member.read())
    archive.unlink()
    return target


@contextmanager
def webchat_shop(webchat: Path, directory: Path, config: dict[str, Any]) -> Iterator[str]:
    """Serve a page embedding rasa-webchat with `config` (its props); yields the page's URL."""
    (directory / "rasa-webchat").mkdir(parents=True, exist_ok=True)
    for name in ("index.js", "LICENSE"):
        shutil.copy(webchat / name, directory / "rasa-webchat" / name)
    (directory / "index.html").write_text(PAGE.replace("{config}", json.dumps(config)), "utf-8")
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *_: object) -> None:
        pass
