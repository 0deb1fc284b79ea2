# shellcheck shell=bash
# Sourced by demo.sh and kubectl-e2e-real.sh: a docker.io mirror on this
# machine for when Docker Hub cannot be reached. Builds (or reuses) the
# nginx image made from Debian's packages (build-nginx-image.sh), starts
# Debian's docker-registry on 127.0.0.1 at a free port, pushes the image as
# library/nginx:latest with skopeo, and writes CONFIG_DIR/docker.io/hosts.toml
# so that `image: nginx` resolves through the mirror: the air-gapped setup
# the README describes.
#
#   start_nginx_mirror WORKDIR CONFIG_DIR   sets MIRROR_PID and MIRROR_ADDR
#   stop_nginx_mirror                       kills that registry (by its pid)

MIRROR_PID=""
MIRROR_ADDR=""

start_nginx_mirror() {
  local work=$1 config=$2 here tar port
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  for tool in docker-registry skopeo python3; do
    command -v "$tool" >/dev/null || { echo "nginx mirror: $tool is missing (scripts/setup.sh installs it)" >&2; return 1; }
  done
  tar=$(bash "$here/build-nginx-image.sh") || { echo "nginx mirror: building the nginx image failed" >&2; return 1; }
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  MIRROR_ADDR=127.0.0.1:$port
  mkdir -p "$work/registry"
  cat >"$work/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work/registry/data
http:
  addr: $MIRROR_ADDR
EOF
  docker-registry serve "$work/registry/config.yml" >"$work/registry/registry.log" 2>&1 &
  MIRROR_PID=$!
  local i
  for i in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$MIRROR_PID" 2>/dev/null || { cat "$work/registry/registry.log" >&2; echo "nginx mirror: docker-registry exited" >&2; return 1; }
    sleep 0.1
  done
  [[ $i -lt 100 ]] || { echo "nginx mirror: docker-registry did not listen on $MIRROR_ADDR" >&2; return 1; }
  skopeo copy --quiet --dest-tls-verify=false "oci-archive:$tar" "docker://$MIRROR_ADDR/library/nginx:latest" ||
    { echo "nginx mirror: skopeo copy to $MIRROR_ADDR failed" >&2; return 1; }
  mkdir -p "$config/docker.io"
  cat >"$config/docker.io/hosts.toml" <<EOF
# docker.io through a local mirror (nginx built from Debian's packages).
server = "https://registry-1.docker.io"

[host."http://$MIRROR_ADDR"]
  capabilities = ["pull", "resolve"]
EOF
  echo "docker.io mirrored at http://$MIRROR_ADDR ($config/docker.io/hosts.toml); library/nginx:latest from $tar"
}

stop_nginx_mirror() {
  [[ -n "$MIRROR_PID" ]] || return 0
  kill -KILL "$MIRROR_PID" 2>/dev/null
  MIRROR_PID=""
}
