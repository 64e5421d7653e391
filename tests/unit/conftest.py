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
