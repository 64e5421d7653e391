# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.daylight.release.plugins.filter.haproxy_stats import FilterModule, haproxy_stats

# Shape of a real HAProxy 2.6 answer (columns cut down; HAProxy ends each line with a comma).
SHOW_STAT = """# pxname,svname,scur,status,req_tot,hrsp_5xx,
www,FRONTEND,3,OPEN,120,2,
web,web1,1,UP,,1,
web,web2,0,MAINT,,0,
web,BACKEND,1,UP,118,1,

"""


def test_rows_are_keyed_by_the_header():
    rows = haproxy_stats(SHOW_STAT)
    assert [(r['pxname'], r['svname'], r['status']) for r in rows] == [
        ('www', 'FRONTEND', 'OPEN'), ('web', 'web1', 'UP'), ('web', 'web2', 'MAINT'), ('web', 'BACKEND', 'UP')]
    backend = rows[-1]
    assert backend['req_tot'] == '118' and backend['hrsp_5xx'] == '1'


def test_empty_and_garbage_give_no_rows():
    assert haproxy_stats('') == []
    assert haproxy_stats(None) == []
    assert haproxy_stats('# pxname,svname,status,\nUnknown command\n') == []


def test_registered_as_a_filter():
    assert FilterModule().filters()['haproxy_stats'] is haproxy_stats
