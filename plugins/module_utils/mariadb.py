# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the collection's MariaDB modules connect: one set of options, one connect().

The options are documented once, in the daylight.release.mariadb doc fragment; a module
adds them to its own with dict(CONNECTION_ARGUMENT_SPEC, **its_options). The driver is
PyMySQL; without it pymysql is None and a module fails with missing_required_lib('PyMySQL')
and PYMYSQL_ERROR before connecting.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

try:
    import pymysql
except ImportError:
    pymysql = None
    PYMYSQL_ERROR = traceback.format_exc()
else:
    PYMYSQL_ERROR = None

CONNECTION_ARGUMENT_SPEC = dict(
    login_host=dict(type='str', default='localhost'),
    login_port=dict(type='int', default=3306),
    login_unix_socket=dict(type='path'),
    login_user=dict(type='str', required=True),
    login_password=dict(type='str', default='', no_log=True),
    database=dict(type='str', required=True),
)


def connect(params, autocommit=True):
    """A PyMySQL connection to params['database'] with the connection options of params.

    autocommit=False leaves every transaction to the caller's commit() and rollback().
    """
    kwargs = dict(user=params['login_user'], password=params['login_password'], database=params['database'],
                  autocommit=autocommit, connect_timeout=10)
    if params['login_unix_socket']:
        kwargs['unix_socket'] = params['login_unix_socket']
    else:
        kwargs.update(host=params['login_host'], port=params['login_port'])
    return pymysql.connect(**kwargs)


def server(params):
    """The server the options point at, for messages: the socket, or host:port."""
    return params['login_unix_socket'] or '%s:%s' % (params['login_host'], params['login_port'])
