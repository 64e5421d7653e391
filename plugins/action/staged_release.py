# -*- coding: utf-8 -*-
# Copyright: daylight.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The staged_release module's controller side: with src, the package goes straight to the host.

ansible.builtin.copy onto the share costs a module run to stat the destination, the transfer into
the host's temporary directory, and a module run that moves the file across filesystems onto the
share. Here the package is transferred once into the temporary directory and extracted from there:
the staging costs a look, the transfer and the extraction.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

MODULE = 'daylight.release.staged_release'


class ActionModule(ActionBase):

    TRANSFERS_FILES = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp  # unused: the connection's temporary directory is used
        args = dict(self._task.args)
        src = args.pop('src', None)
        if src is None:
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
            return result
        if args.get('package'):
            result.update(failed=True, msg='staged_release: give src (a package on the controller) or package (a '
                                           'package already on the host), not both')
            return result
        try:
            local = self._find_needle('files', src)
        except AnsibleError as e:
            result.update(failed=True, msg='staged_release: the package %s is not on the controller: %s'
                                           % (src, to_text(e)))
            return result
        args.setdefault('package_name', os.path.basename(local))

        # A staged release (or one staged from another package, which the module refuses) needs no transfer.
        look = self._execute_module(module_name=MODULE, module_args=dict(args, package=None), task_vars=task_vars)
        if look.get('failed') or look.get('staged'):
            result.update(look)
            return result
        if self._task.check_mode:
            result.update(look, changed=True, staged=True)
            return result

        try:
            if not self._connection._shell.tmpdir:
                self._make_tmp_path()
            tmpdir = self._connection._shell.tmpdir
            remote = self._connection._shell.join_path(tmpdir, os.path.basename(local))
            self._transfer_file(local, remote)
            self._fixup_perms2((tmpdir, remote))
            result.update(self._execute_module(module_name=MODULE, module_args=dict(args, package=remote),
                                               task_vars=task_vars))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
