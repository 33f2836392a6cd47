"""A moto server (DynamoDB) as a standalone process for the scale test: ``python -m easycrm_tests_scale.moto_service
--port-file P``. Requests are serialized as in the unit tests (``easycrm_tests.support.moto_server``); the bound port
is written to ``P`` once listening; SIGTERM/SIGINT stop it.
"""
from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path

from easycrm_tests.support.moto_server import moto_endpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m easycrm_tests_scale.moto_service")
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with moto_endpoint() as url:
        port = url.rsplit(":", 1)[1]
        tmp = Path(args.port_file + ".tmp")
        tmp.write_text(port + "\n")
        os.replace(tmp, args.port_file)
        print(f"MOTO_URL={url}", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
