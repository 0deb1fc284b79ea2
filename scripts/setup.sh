#!/usr/bin/env bash
# Installs what nodelet needs on a fresh Debian 12 machine (idempotent, fast
# when everything is present). Sourced by demo.sh and test.sh.
#   - runc (default OCI runtime), crun (alternative), conmon (measured
#     against our monitor in bench/), busybox-static (test/demo images),
#     containernetworking-plugins + iptables (CNI pod networking), nftables
#     (the Service data plane), conntrack (tests insert and list flows),
#     util-linux/iproute2 (namespaces, veth checks); skopeo, umoci, podman
#     (image interop tests: archives made by real tools load).
#     hyperfine for bench/ is installed by the bench scripts.
#   - docker-registry (a local registry: the docker.io mirror of the demo,
#     registry pull tests), apache2-utils (htpasswd for its auth),
#     mmdebstrap (the nginx image built from Debian's packages), curl.
#   - chromium (headless: the /ui/ page test of scripts/hooks-e2e-real.sh).
#   apt runs under flock /tmp/apt.lock: parallel setups share the machine.
set -euo pipefail

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "nodelet setup: must run as root (containers, cgroups, CNI need it)" >&2
    exit 1
  fi
}

apt_packages=(runc crun conmon busybox-static bash-static containernetworking-plugins iptables nftables conntrack iproute2 util-linux procps tmux
  skopeo umoci podman docker-registry apache2-utils mmdebstrap curl chromium)

install_packages() {
  local missing=()
  for p in "${apt_packages[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "nodelet setup: installing ${missing[*]}" >&2
    flock /tmp/apt.lock apt-get update -qq
    DEBIAN_FRONTEND=noninteractive flock /tmp/apt.lock apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

need_root
install_packages "$@"
command -v cargo >/dev/null || { echo "nodelet setup: cargo (Rust toolchain) not found" >&2; exit 1; }
