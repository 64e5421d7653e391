#!/usr/bin/env bash
# Run `ansible-test sanity` for daylight.release on a machine that reaches only PyPI (through the
# machine's pip configuration) and Debian's mirror. Why each step is needed: tests/sanity/README.md.
#
#   tests/sanity/run.sh [more ansible-test sanity arguments, e.g. --test pylint -v]
#
# `make sanity` runs it from the repository root with .venv/bin on PATH. Exits non-zero when a
# sanity test fails (or when the setup itself fails).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON_VERSION=3.11
SANITY_ROOT="$REPO_ROOT/.build/sanity"
COLLECTION_DIR="$SANITY_ROOT/ansible_collections/daylight/release"
WHEEL_DIR="$SANITY_ROOT/wheels"

log() { printf '==> %s\n' "$*" >&2; }

command -v ansible-test >/dev/null || { echo "ansible-test is not on PATH (use 'make sanity')" >&2; exit 2; }
# the interpreter ansible-test runs with, so that ansible_test and pip can be imported from it
PY="$(dirname "$(command -v ansible-test)")/python"
[[ -x "$PY" ]] || PY="$(command -v python3)"
"$PY" -c 'import ansible_test' 2>/dev/null || { echo "$PY cannot import ansible_test" >&2; exit 2; }

# --- 1. a copy of the collection at .../ansible_collections/daylight/release ---------------------
# A copy, not the checkout and not a symlink to it: ansible-test lists the content with git,
# looking for .git from the collection root upwards. Under .build/ that finds this project's own
# repository, in which .build/ is ignored, so ansible-test would see no files ("WARNING: All
# targets skipped." and nothing tested). The copy gets an empty git repository of its own; git
# then lists exactly the copied files (untracked, .gitignore applied), ansible-test's content.
log "copying the working tree (tracked and new files) to ${COLLECTION_DIR#"$REPO_ROOT"/}"
rm -rf "$COLLECTION_DIR"
mkdir -p "$COLLECTION_DIR"
git -C "$REPO_ROOT" ls-files -z --cached --others --exclude-standard \
  | (cd "$REPO_ROOT" && while IFS= read -r -d '' f; do
       # skip files deleted from the working tree but still in the index
       if [[ -e "$f" || -L "$f" ]]; then printf '%s\0' "$f"; fi
     done) \
  | tar -C "$REPO_ROOT" --null -T - -cf - \
  | tar -C "$COLLECTION_DIR" -xf -
git -C "$COLLECTION_DIR" init -q

# --- 2. the pip bootstrap script, and this machine's pip configuration for the test venvs -------
# ansible-test runs every sanity test that needs Python packages in a virtualenv of its own
# (~/.ansible/test/venv/sanity.<test>/3.11/<hash>), created without pip. It bootstraps pip by
# running ~/.ansible/test/cache/get_pip_<version>.py, which it downloads from
# https://ci-files.testing.ansible.com when missing: that host is unreachable from here.
# We write that file ourselves. Our get_pip carries the pip wheel (fetched once from PyPI with this
# machine's pip and kept in .build/sanity/wheels) and installs it with --no-index: no network.
#
# After that ansible-test runs pip in the venv with an environment reduced to HOME, PATH, LC_ALL
# (ansible_test/_internal/util.py common_environment()), so PIP_CERT, PIP_INDEX_URL,
# PIP_FIND_LINKS, SSL_CERT_FILE, REQUESTS_CA_BUNDLE, PIP_CONFIG_FILE ... never reach it, and
# exporting them here is useless. Our get_pip therefore also writes the configuration pip has
# right here (files and PIP_* variables merged; cert from SSL_CERT_FILE/REQUESTS_CA_BUNDLE when
# pip has none) as <venv>/pip.conf, pip's site configuration file, which the venv's pip reads
# whatever its environment.
log "preparing the pip bootstrap script for ansible-test's virtualenvs"
"$PY" - "$WHEEL_DIR" <<'PYEOF'
import ast
import base64
import configparser
import glob
import io
import os
import subprocess
import sys
import types

from ansible_test._internal.python_requirements import get_venv_packages

wheel_dir = sys.argv[1]

# what ansible-test bootstraps into each venv, e.g. {'pip': '24.2'} for ansible-core 2.19
packages = get_venv_packages(types.SimpleNamespace(version='%d.%d' % sys.version_info[:2]))
reqs = ['%s==%s' % item for item in packages.items()]
target = os.path.expanduser('~/.ansible/test/cache/get_pip_%s.py' % packages['pip'].replace('.', '_'))


def find_wheel(name, version):
    found = glob.glob(os.path.join(wheel_dir, '%s-%s-*.whl' % (name.replace('-', '_'), version)))
    return found[0] if found else None


missing = [req for req in reqs if not find_wheel(*req.split('=='))]
if missing:
    os.makedirs(wheel_dir, exist_ok=True)
    subprocess.run([sys.executable, '-m', 'pip', 'download', '-q', '--disable-pip-version-check',
                    '--only-binary=:all:', '--no-deps', '-d', wheel_dir] + missing, check=True)
wheels = {}
for req in reqs:
    path = find_wheel(*req.split('=='))
    if not path:
        sys.exit('no wheel for %s in %s' % (req, wheel_dir))
    with open(path, 'rb') as f:
        wheels[os.path.basename(path)] = base64.b64encode(f.read()).decode()

# the configuration pip sees here: files, then PIP_* variables (":env:" keys) on top
conf = configparser.ConfigParser(interpolation=None)
listing = subprocess.run([sys.executable, '-m', 'pip', 'config', 'list'],
                         check=True, capture_output=True, text=True).stdout
for line in listing.splitlines():  # lines like  global.cert='/etc/ssl/...'  or  :env:.find-links='...'
    key, sep, value = line.partition('=')
    if not sep:
        continue
    value = ast.literal_eval(value)
    section, _, option = key.partition('.')
    section = 'global' if section == ':env:' else section
    if not conf.has_section(section):
        conf.add_section(section)
    conf.set(section, option, value)
ca_bundle = os.environ.get('SSL_CERT_FILE') or os.environ.get('REQUESTS_CA_BUNDLE')
if ca_bundle and not any(conf.has_option(s, 'cert') for s in conf.sections()):
    if not conf.has_section('global'):
        conf.add_section('global')
    conf.set('global', 'cert', ca_bundle)
buf = io.StringIO()
conf.write(buf)
pip_conf = buf.getvalue()

script = f'''\
# Offline stand-in for https://ci-files.testing.ansible.com/ansible-test/get-pip-{packages['pip']}.py,
# written by the daylight.release collection's tests/sanity/run.sh (regenerated on every run).
# ansible-test runs it in a new virtualenv without pip, as
#   python get_pip_{packages['pip'].replace('.', '_')}.py --disable-pip-version-check {' '.join(reqs)} --no-setuptools --no-wheel
# It writes the pip configuration of the machine into <venv>/pip.conf (ansible-test hides the
# PIP_* variables from pip) and installs the embedded wheels without any index.
import base64, os, shutil, sys, tempfile

PIP_CONF = {pip_conf!r}

WHEELS = {wheels!r}


def main():
    with open(os.path.join(sys.prefix, 'pip.conf'), 'w') as f:
        f.write(PIP_CONF)
    args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
    tmp = tempfile.mkdtemp(prefix='get-pip-')
    try:
        for name, data in WHEELS.items():
            with open(os.path.join(tmp, name), 'wb') as f:
                f.write(base64.b64decode(data))
        sys.path.insert(0, [os.path.join(tmp, n) for n in WHEELS if n.startswith('pip-')][0])
        from pip._internal.cli.main import main as pip_main  # pip run from its wheel, like get-pip.py
        return pip_main(['install', '--upgrade', '--force-reinstall', '--no-index', '--find-links', tmp] + args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
'''

old = None
if os.path.exists(target):
    with open(target) as f:
        old = f.read()
if old != script:
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target + '.tmp', 'w') as f:
        f.write(script)
    os.replace(target + '.tmp', target)
print('==> %s (pip %s, %d bytes)' % (target, packages['pip'], len(script)), file=sys.stderr)
PYEOF

# --- 3. shellcheck ---------------------------------------------------------------------------------
# The "shellcheck" sanity test needs the program; without it ansible-test only prints
# 'WARNING: Required program "shellcheck" not found.' and counts the test as passed. Debian has it.
if ! command -v shellcheck >/dev/null; then
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing shellcheck (apt) for the shellcheck sanity test"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null 2>&1 \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null; }
  else
    log "WARNING: shellcheck is not installed; the shellcheck sanity test will not check anything"
  fi
fi

# --- 4. ansible-test sanity ------------------------------------------------------------------------
# All default sanity tests, none skipped: once pip works, every one of them runs offline.
# (pslint needs PowerShell but only for .ps1/.psm1 files, and this collection has none.)
# --python 3.11: the Python of these machines; also limits "compile" and "import" to 3.11.
cd "$COLLECTION_DIR"
log "ansible-test sanity --python $PYTHON_VERSION $*"
exec ansible-test sanity --python "$PYTHON_VERSION" --color no "$@"
