#!/usr/bin/env bash
# Sets up a fresh Debian machine (12 or later) for swarm-deployer in one command, as root:
# installs the Debian packages the local fleet, the twin, the demo and the tests need when some are
# missing (apt-get update + install of exactly those), runs `npm ci` when node_modules is missing or
# older than package-lock.json, and prints the next command. Non-interactive and idempotent: on a
# machine already set up it installs nothing. .ci/run installs through it too (--ci).
#
#   sudo ./local/setup.sh          set up (root: it installs Debian packages)
#   ./local/setup.sh --dry-run     print what it would install or run; change nothing (any user)
#   sudo ./local/setup.sh --ci     the same set-up, and `npm ci` even when node_modules looks current
set -euo pipefail

# What the local fleet runs (local/fleet/preflight.ts names the program each package brings).
PACKAGES=(
  docker.io containerd runc     # the clusters' engines (dockerd per network namespace)
  prometheus                    # a Prometheus per cluster
  docker-registry               # the registry standing in for ECR
  busybox-static                # the demo application's image (FROM scratch around a static busybox)
  iproute2 iptables util-linux  # namespaces, veth pairs, NAT rules, nsenter and unshare
  ca-certificates openssl socat # TLS material for the fleet, TCP sinks of the benchmarks
  tmux                          # the real terminal of the `deployer watch` test
  shellcheck                    # the infra tests check the demo fleet's user data with it
)

usage() {
  cat <<'EOF'
usage: local/setup.sh [--dry-run] [--ci]

Installs the Debian packages swarm-deployer needs when some are missing, runs npm ci when
node_modules is missing or older than package-lock.json, and prints the next command.

  --dry-run  print what would be installed or run, change nothing (needs no root)
  --ci       run npm ci in any case (a clean install, as CI wants)
EOF
}

dry_run=0
ci=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=1 ;;
    --ci) ci=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      printf 'setup: unknown argument "%s"\n' "$arg" >&2
      usage >&2
      exit 2
      ;;
  esac
done

say() { printf 'setup: %s\n' "$*"; }
fail() {
  printf 'setup: %s\n' "$*" >&2
  exit 1
}

cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ -f package.json && -f package-lock.json ]] ||
  fail "$(pwd) holds no package.json and package-lock.json: run the setup.sh of a swarm-deployer clone"

command -v dpkg-query >/dev/null 2>&1 ||
  fail "dpkg-query not found: this script sets up Debian (12 or later); elsewhere install ${PACKAGES[*]} and Node.js 22 with npm yourself, then run npm ci"

# Installed: a status line "<want> ok installed" (not "deinstall ok config-files", "… half-installed").
installed() {
  local status line
  # shellcheck disable=SC2016 # ${Status} is dpkg-query's field, not a shell expansion
  status=$(dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null) || return 1
  while IFS= read -r line; do
    [[ $line == *' ok installed' ]] && return 0
  done <<<"$status"
  return 1
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done

# npm writes node_modules/.package-lock.json at the end of every install: the mark of an install.
npm_reason=''
if ((ci)); then
  npm_reason='--ci'
elif [[ ! -d node_modules ]]; then
  npm_reason='node_modules is missing'
elif [[ ! -f node_modules/.package-lock.json ]]; then
  npm_reason='node_modules was not installed by npm (no node_modules/.package-lock.json)'
elif [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm_reason='node_modules is older than package-lock.json'
fi

if ((dry_run)); then
  if ((${#missing[@]})); then
    say "dry run: would run apt-get update, then apt-get install -y --no-install-recommends ${missing[*]}"
  else
    say "dry run: the ${#PACKAGES[@]} Debian packages are installed: ${PACKAGES[*]}"
  fi
  if [[ -n $npm_reason ]]; then
    say "dry run: would run npm ci ($npm_reason)"
  else
    say 'dry run: node_modules is up to date with package-lock.json'
  fi
  exit 0
fi

[[ $(id -u) == 0 ]] ||
  fail "needs root (it installs Debian packages; the local fleet runs as root too): run sudo ./local/setup.sh${*:+ $*}"

export DEBIAN_FRONTEND=noninteractive
if ((${#missing[@]})); then
  command -v apt-get >/dev/null 2>&1 ||
    fail "apt-get not found: install ${missing[*]} with your system's package manager, then run this again"
  say "installing ${#missing[@]} Debian package(s): ${missing[*]}"
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  say "the ${#PACKAGES[@]} Debian packages are installed"
fi

if [[ -n $npm_reason ]]; then
  command -v npm >/dev/null 2>&1 ||
    fail 'npm not found: install Node.js 22 with npm (https://nodejs.org/en/download), then run this again'
  say "running npm ci ($npm_reason)"
  npm ci
else
  say 'node_modules is up to date with package-lock.json'
fi

# The fleet (and so the demo) runs as root: under sudo, the next command needs it too.
next='npm run demo'
[[ -n ${SUDO_USER:-} ]] && next="sudo $next"
say "ready. Next: $next"
