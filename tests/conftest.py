import functools
import http.server
import threading

import pytest

import nerve

DEVICES = ["cpu"] + (["cuda"] if nerve.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    """Every test that takes ``device`` runs on the CPU, and on the GPU when there is one."""
    return request.param


@pytest.fixture(autouse=True)
def _seed():
    nerve.manual_seed(0)
    yield


@pytest.fixture()
def server(tmp_path):
    """A local web server for the files of ``tmp_path / "www"``: yields (that folder, its base URL)."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
