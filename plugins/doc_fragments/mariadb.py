# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The connection options of the MariaDB modules (plugins/module_utils/mariadb.py).
    DOCUMENTATION = r"""
requirements:
  - PyMySQL on the host that runs the module.
options:
  login_host:
    description: The database server.
    type: str
    default: localhost
  login_port:
    description: Its port.
    type: int
    default: 3306
  login_unix_socket:
    description: A socket to connect through instead of O(login_host).
    type: path
  login_user:
    description: The user that owns the application's schema.
    type: str
    required: true
  login_password:
    description: Its password.
    type: str
    default: ""
  database:
    description: The application's database.
    type: str
    required: true
"""
