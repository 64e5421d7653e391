#!/usr/bin/env bash
# The bundled lab: real HAProxy, Apache + mod_php, MariaDB and systemd in podman containers.
#   lab/lab.sh image          build the image once (cached by the Containerfile's hash)
#   lab/lab.sh up [WEB_NODES] start lb1, web1..webN, db1 (default N=3); idempotent
#   lab/lab.sh down           remove containers, network and share volume; idempotent
# Environment: LAB_HTTP_PORT (8080) and LAB_STATS_PORT (8404), both published on 127.0.0.1.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"

NETWORK=daylight-lab
SHARE_VOLUME=daylight-share
SHARE_MOUNT=/srv/daylight          # where production mounts the NFS share
BASE_IMAGE=localhost/daylight-base:bookworm
IMAGE=localhost/daylight-lab:latest
HTTP_PORT=${LAB_HTTP_PORT:-8080}
STATS_PORT=${LAB_STATS_PORT:-8404}
MIRROR=${LAB_DEBIAN_MIRROR:-$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

log() { printf 'lab: %s\n' "$*" >&2; }

recipe_hash() { sha256sum "$here/Containerfile" | cut -c1-16; }

build_image() {
  local want have
  want=$(recipe_hash)
  have=$(podman image inspect --format '{{ index .Labels "daylight.recipe" }}' "$IMAGE" 2>/dev/null || true)
  if [ "$have" = "$want" ]; then
    return 0
  fi
  if ! podman image exists "$BASE_IMAGE"; then
    local rootfs="$here/cache/rootfs"
    log "debootstrap bookworm from $MIRROR (about a minute)"
    rm -rf "$rootfs" && mkdir -p "$here/cache"
    debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$here/cache/debootstrap.log" 2>&1 \
      || { log "debootstrap failed, see $here/cache/debootstrap.log"; exit 1; }
    tar -C "$rootfs" -c . | podman import - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
  fi
  log "building $IMAGE (about a minute)"
  podman build --label "daylight.recipe=$want" -t "$IMAGE" -f "$here/Containerfile" "$here" >"$here/cache/build.log" 2>&1 \
    || { log "image build failed, see $here/cache/build.log"; exit 1; }
}

start_host() {
  local name=$1 group=$2; shift 2
  # A running host built from the current recipe is kept; anything else is replaced.
  if [ "$(podman container inspect --format '{{.State.Running}} {{ index .Config.Labels "daylight.recipe" }}' "$name" 2>/dev/null)" \
       = "true $(recipe_hash)" ]; then
    return 0
  fi
  podman rm -f "$name" >/dev/null 2>&1 || true
  podman run -d --name "$name" --hostname "$name" --network "$NETWORK" \
    --privileged --systemd=always \
    --label daylight.lab=1 --label "daylight.group=$group" \
    "$@" "$IMAGE" /sbin/init >/dev/null
}

wait_for_systemd() {
  local name
  for name in "$@"; do
    for _ in $(seq 1 60); do
      state=$(podman exec "$name" systemctl is-system-running 2>/dev/null || true)
      case "$state" in running|degraded) break ;; esac
      sleep 0.5
    done
  done
}

up() {
  local web_nodes=${1:-3} hosts=(lb1 db1) i
  build_image
  podman network exists "$NETWORK" || podman network create "$NETWORK" >/dev/null
  podman volume exists "$SHARE_VOLUME" || podman volume create "$SHARE_VOLUME" >/dev/null
  start_host db1 databases
  for i in $(seq 1 "$web_nodes"); do
    start_host "web$i" webservers -v "$SHARE_VOLUME:$SHARE_MOUNT"
    hosts+=("web$i")
  done
  # Web nodes beyond the requested count go, so the estate is exactly N nodes.
  for name in $(podman ps -a --filter label=daylight.group=webservers --format '{{.Names}}'); do
    i=${name#web}
    if [ "$i" -gt "$web_nodes" ] 2>/dev/null; then podman rm -f "$name" >/dev/null; fi
  done
  start_host lb1 loadbalancers -p "127.0.0.1:$HTTP_PORT:80" -p "127.0.0.1:$STATS_PORT:8404"
  wait_for_systemd "${hosts[@]}"
  log "running: ${hosts[*]} (HTTP on 127.0.0.1:$HTTP_PORT, HAProxy stats on 127.0.0.1:$STATS_PORT)"
}

down() {
  local ids
  mapfile -t ids < <(podman ps -aq --filter label=daylight.lab=1)
  [ "${#ids[@]}" -gt 0 ] && podman rm -f -t 2 "${ids[@]}" >/dev/null
  podman volume exists "$SHARE_VOLUME" && podman volume rm -f "$SHARE_VOLUME" >/dev/null
  podman network exists "$NETWORK" && podman network rm -f "$NETWORK" >/dev/null
  log "removed"
}

case "${1:-}" in
  image) build_image ;;
  up) up "${2:-3}" ;;
  down) down ;;
  *) echo "usage: $0 image | up [WEB_NODES] | down" >&2; exit 2 ;;
esac
