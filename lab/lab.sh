#!/usr/bin/env bash
# The bundled lab: real HAProxy, Apache + mod_php, MariaDB and systemd in podman containers.
#   lab/lab.sh image          build the image once (cached by the Containerfile's hash)
#   lab/lab.sh up [WEB_NODES] start lb1..lbM, web1..webN, db1 (default N=3, M=LB_NODES=2); idempotent
#   lab/lab.sh down           remove containers, network and share volume; idempotent
# Every host also runs sshd: `up` writes lab/cache/ssh/ (a key made here, never committed, and an
# ssh_config naming each host's address), which inventories/lab-ssh uses, as production would.
# Environment: LB_NODES (2) load balancers; LAB_HTTP_PORT (8080) and LAB_STATS_PORT (8404) are
# lb1's ports on 127.0.0.1, lbI publishes on LAB_HTTP_PORT+I-1 and LAB_STATS_PORT+I-1 (lb2: 8081,
# 8405). Each load balancer carries its ports as labels daylight.http_port and daylight.stats_port.
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
LB_NODES=${LB_NODES:-2}
MIRROR=${LAB_DEBIAN_MIRROR:-$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

SSH_DIR="$here/cache/ssh"

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
  # A running host built from the current recipe is kept; anything else is replaced. After the
  # machine restarts podman may still call a host running that cannot run a command: replaced.
  if [ "$(podman container inspect --format '{{.State.Running}} {{ index .Config.Labels "daylight.recipe" }}' "$name" 2>/dev/null)" \
       = "true $(recipe_hash)" ] && podman exec "$name" true >/dev/null 2>&1; then
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

# Lets this machine's lab key in as root on every host and writes the ssh_config that reaches them
# by address (the hosts' names only resolve inside the lab network).
open_ssh() {
  local name address
  mkdir -p "$SSH_DIR" && chmod 700 "$SSH_DIR"
  [ -f "$SSH_DIR/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C daylight-lab -f "$SSH_DIR/id_ed25519"
  {
    echo "# Written by lab/lab.sh up: the lab's hosts over SSH (inventories/lab-ssh)."
    for name in "$@"; do
      # Added, not replaced: another checkout's lab key keeps working on the same lab.
      podman exec -i "$name" sh -c 'umask 077 && mkdir -p /root/.ssh && touch /root/.ssh/authorized_keys && key=$(cat) &&
        { grep -qxF "$key" /root/.ssh/authorized_keys || echo "$key" >> /root/.ssh/authorized_keys; } && systemctl start ssh' \
        < "$SSH_DIR/id_ed25519.pub"
      address=$(podman container inspect --format "{{ (index .NetworkSettings.Networks \"$NETWORK\").IPAddress }}" "$name")
      printf 'Host %s\n  HostName %s\n' "$name" "$address"
    done
    printf 'Host *\n  User root\n  IdentityFile %s\n  IdentitiesOnly yes\n' "$SSH_DIR/id_ed25519"
    # The lab's hosts are remade often and their addresses reused: their host keys are not kept.
    printf '  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n'
  } > "$SSH_DIR/config.tmp"
  mv "$SSH_DIR/config.tmp" "$SSH_DIR/config"
}

# Removes the hosts of a group named PREFIX<i> with i beyond the requested count.
remove_beyond() {
  local group=$1 prefix=$2 count=$3 name i
  for name in $(podman ps -a --filter "label=daylight.group=$group" --format '{{.Names}}'); do
    i=${name#"$prefix"}
    if [ "$i" -gt "$count" ] 2>/dev/null; then podman rm -f "$name" >/dev/null; fi
  done
}

up() {
  local web_nodes=${1:-3} lb_nodes=$LB_NODES hosts=(db1) i http stats ports=()
  case "$web_nodes$lb_nodes" in
    *[!0-9]*) log "WEB_NODES ($web_nodes) and LB_NODES ($lb_nodes) must be whole numbers"; exit 2 ;;
  esac
  [ "$lb_nodes" -ge 1 ] || { log "LB_NODES must be at least 1"; exit 2; }
  build_image
  podman network exists "$NETWORK" || podman network create "$NETWORK" >/dev/null
  podman volume exists "$SHARE_VOLUME" || podman volume create "$SHARE_VOLUME" >/dev/null
  start_host db1 databases
  for i in $(seq 1 "$web_nodes"); do
    start_host "web$i" webservers -v "$SHARE_VOLUME:$SHARE_MOUNT"
    hosts+=("web$i")
  done
  # Nodes beyond the requested counts go, so the estate is exactly N web nodes and M lbs.
  remove_beyond webservers web "$web_nodes"
  remove_beyond loadbalancers lb "$lb_nodes"
  for i in $(seq 1 "$lb_nodes"); do
    http=$((HTTP_PORT + i - 1)) stats=$((STATS_PORT + i - 1))
    # A load balancer whose published ports differ (LAB_*_PORT changed) is replaced.
    if [ "$(podman container inspect --format '{{ index .Config.Labels "daylight.http_port" }} {{ index .Config.Labels "daylight.stats_port" }}' "lb$i" 2>/dev/null)" \
         != "$http $stats" ]; then
      podman rm -f "lb$i" >/dev/null 2>&1 || true
    fi
    start_host "lb$i" loadbalancers -p "127.0.0.1:$http:80" -p "127.0.0.1:$stats:8404" \
      --label "daylight.http_port=$http" --label "daylight.stats_port=$stats"
    hosts+=("lb$i")
    ports+=("lb$i: HTTP 127.0.0.1:$http, stats 127.0.0.1:$stats")
  done
  wait_for_systemd "${hosts[@]}"
  open_ssh "${hosts[@]}"
  log "running: ${hosts[*]}"
  printf 'lab:   %s\n' "${ports[@]}" >&2
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
  *) echo "usage: [LB_NODES=M] $0 image | up [WEB_NODES] | down" >&2; exit 2 ;;
esac
