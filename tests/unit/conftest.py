# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make `ansible_collections.daylight.release` importable when pytest runs from the repo.

The repository root is the collection root, so it is not laid out as
ansible_collections/daylight/release. We build that layout with one symlink
under .build/ (git-ignored) instead of requiring ansible-test.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(REPO, '.build', 'collections')
NAMESPACE = os.path.join(COLLECTIONS, 'ansible_collections', 'daylight')
LINK = os.path.join(NAMESPACE, 'release')

if not os.path.islink(LINK) or os.readlink(LINK) != REPO:
    os.makedirs(NAMESPACE, exist_ok=True)
    tmp = '%s.tmp-%d' % (LINK, os.getpid())
    os.symlink(REPO, tmp)
    os.replace(tmp, LINK)  # rename, so parallel pytest workers never see a half-made link

if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

# The pip `ansible` bundle installs site-packages/ansible_collections. If it is a
# namespace package its __path__ follows sys.path by itself; if it was already
# imported as a regular package (has __init__.py), add our directory explicitly.
import ansible_collections  # noqa: E402

_ours = os.path.join(COLLECTIONS, 'ansible_collections')
if _ours not in list(ansible_collections.__path__):
    if isinstance(ansible_collections.__path__, list):
        ansible_collections.__path__.insert(0, _ours)
    else:
        raise ImportError('cannot add %s to ansible_collections.__path__ %r' % (_ours, ansible_collections.__path__))

import threading  # noqa: E402
from http.server import HTTPServer  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture
def serve_http(monkeypatch):
    """serve_http(handler_class) -> the base URL of an HTTP server on 127.0.0.1 answering with it.

    Each server runs in a thread and is stopped after the test. The nodes are asked directly, so a
    proxy in the environment must not be used: one that answers nothing is set.
    """
    monkeypatch.setenv('http_proxy', 'http://127.0.0.1:9')
    monkeypatch.delenv('no_proxy', raising=False)
    monkeypatch.delenv('NO_PROXY', raising=False)
    running = []

    def serve(handler):
        server = HTTPServer(('127.0.0.1', 0), handler)
        thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05})
        thread.daemon = True
        thread.start()
        running.append((server, thread))
        return 'http://127.0.0.1:%d' % server.server_address[1]

    yield serve
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join()
