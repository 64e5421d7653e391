# daylight.release: everything runs through here, from a fresh Debian 12 machine as root.
#   make demo   build and start the lab, release the demo app 1.0.0 -> 2.0.0 under load, report
#   make test   lint, unit, sanity, Molecule and end-to-end tests (what CI runs)
#   make bench  measure a release: phases at 3, 6 and 12 web nodes, side by side with careless deploys, Ansible options, staging
#   make lab [WEB_NODES=3] [LB_NODES=2]   start the lab: web1..N behind lb1..M (lbI on 127.0.0.1:8080+I-1)

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
WEB_NODES ?= 3
LB_NODES ?= 2
VERSION ?=
APT_PACKAGES := podman runc debootstrap uidmap slirp4netns curl git shellcheck openssh-client

export PATH := $(BIN):$(PATH)
export CONTAINERS_CONF := $(CURDIR)/lab/containers.conf
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_FORCE_COLOR := 0
# lab/lab.sh reads the load balancer count from the environment.
export LB_NODES

.PHONY: help deps venv collection lab lab-down package demo bench lint unit sanity integration static molecule e2e test clean

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

# System packages the lab needs; skipped when already there.
deps: .build/deps.stamp
.build/deps.stamp: Makefile
	@mkdir -p .build
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@touch $@

venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt
	@touch $@

# ansible.cfg looks for collections in .build/collections: link this checkout in there.
collection: .build/collections/ansible_collections/daylight/release
.build/collections/ansible_collections/daylight/release:
	@mkdir -p $(@D)
	@ln -sfn ../../../.. $@

# WEB_NODES web nodes behind LB_NODES load balancers (lab/lab.sh up).
lab: deps venv collection
	LB_NODES=$(LB_NODES) lab/lab.sh up $(WEB_NODES)
	ansible-playbook -i inventories/lab lab/configure.yml

lab-down:
	lab/lab.sh down

package:
	@test -n "$(VERSION)" || { echo "usage: make package VERSION=x.y.z"; exit 2; }
	examples/demo-app/package.sh $(VERSION) build/packages

demo: lab
	python tests/e2e/release_under_load.py --from 1.0.0 --to 2.0.0

# Writes build/bench/results.json and summary.md; leaves the lab with 3 web nodes.
bench: lab
	pip install -q -r tests/bench/requirements.txt
	python tests/bench/bench.py $(BENCH_ARGS)

lint: venv collection
	yamllint -s .
	ruff check plugins tests docs
	ansible-lint

unit: venv collection
	pytest tests/unit

sanity: venv
	tests/sanity/run.sh

# The built artifact installed alone: ansible-doc, playbooks by collection name, ansible-builder create.
integration: venv
	pytest tests/integration

# Every scenario under molecule/ (each also runnable alone: molecule test -s NAME), MOLECULE_JOBS
# at a time: each has its own containers and network, and most of a scenario's time is spent
# waiting (containers booting, Ansible's round trips). Each one's log is build/molecule/NAME.log,
# printed when it fails; every scenario runs even after one fails, and the target fails then.
MOLECULE_JOBS ?= 2
MOLECULE_SCENARIOS := $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))
molecule: deps venv collection
	lab/lab.sh image
	@mkdir -p build/molecule
	@printf '%s\n' $(MOLECULE_SCENARIOS) | xargs -P $(MOLECULE_JOBS) -I{} bash -c '\
	  started=$$(date +%s); \
	  if molecule test -s {} > build/molecule/{}.log 2>&1; then \
	    echo "== molecule test -s {}: passed in $$(( $$(date +%s) - started )) s"; \
	  else \
	    echo "== molecule test -s {}: FAILED after $$(( $$(date +%s) - started )) s; build/molecule/{}.log:"; \
	    cat build/molecule/{}.log; exit 1; \
	  fi'

# A fresh lab: releases on the share are immutable, so a share left by an older demo app
# would (rightly) refuse the current packages.
e2e: deps venv collection
	lab/lab.sh down
	$(MAKE) lab
	rm -f build/e2e-playbooks.jsonl
	pytest tests/e2e --durations=0 --durations-min=1

static: lint unit sanity integration

# The Molecule scenarios (their own containers, mostly waiting) run beside the static checks (CPU
# bound, no lab), each target's output printed whole when it ends; the end-to-end tests run alone
# afterwards, as their figures (latency, request counts) are the lab's under load.
test: deps venv collection
	$(MAKE) --no-print-directory --output-sync=target -j2 static molecule
	$(MAKE) --no-print-directory e2e

clean: lab-down
	rm -rf .build build $(VENV)
