# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors raised by the collection's pure logic.

Helpers raise; only a module's main() turns an error into fail_json(msg=...),
so every message must say what failed and with which value.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class DaylightError(Exception):
    """Base class: str(error) is the message shown to the operator."""


class ValidationError(DaylightError):
    """The caller's input is wrong; nothing was changed."""


class ConflictError(DaylightError):
    """The world is not in the state the caller expected; nothing was changed."""


class ApplyError(DaylightError):
    """Writing the change failed; the previous state was kept."""


class UnavailableError(DaylightError):
    """A service the task needs did not answer; nothing was changed."""
