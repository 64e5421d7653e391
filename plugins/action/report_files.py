# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""report_files: write a release report's files on the controller, in the controller's own process.

ansible.builtin.file and ansible.builtin.copy delegated to localhost cost a module run each (a
Python start-up, about 0.8 s on the lab's busy 2 cores) for the directory and for every file; the
report is written at the end of every release, while the operator waits.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.six import string_types
from ansible.plugins.action import ActionBase

from ansible_collections.daylight.release.plugins.module_utils.errors import DaylightError
from ansible_collections.daylight.release.plugins.module_utils.files import write_files


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(('dir', 'files'))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp  # nothing goes to the host
        directory, files = self._task.args.get('dir'), self._task.args.get('files')
        if not isinstance(directory, string_types) or not directory.startswith('/'):
            return dict(result, failed=True, msg='report_files: dir must be an absolute path on the controller, '
                                                 'got %r' % (directory,))

        def is_file(item):
            return (isinstance(item, dict) and set(item) == {'name', 'content'}
                    and all(isinstance(value, string_types) for value in item.values()))
        if not isinstance(files, list) or not files or not all(is_file(item) for item in files):
            return dict(result, failed=True, msg='report_files: files must be a non-empty list of {name, content}, '
                                                 'both strings; got %r' % (files,))
        texts = dict((to_text(item['name']), to_text(item['content'])) for item in files)
        if len(texts) < len(files):
            return dict(result, failed=True, msg='report_files: a file name is given twice in files: %s'
                                                 % ', '.join(item['name'] for item in files))
        try:
            plan = write_files(directory, texts, check_mode=self._task.check_mode)
        except DaylightError as e:
            return dict(result, failed=True, msg='report_files: %s' % e)
        result.update(changed=any(item['changed'] for item in plan), dir=directory,
                      paths=[item['path'] for item in plan],
                      written=[item['path'] for item in plan if item['changed']])
        if self._task.diff:
            result['diff'] = [{'before_header': item['path'], 'after_header': item['path'],
                               'before': item['before'] or '', 'after': item['after']}
                              for item in plan if item['changed']]
        return result
