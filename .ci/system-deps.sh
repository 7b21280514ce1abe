#!/bin/sh
# Debian packages for the browser test (chromium) and the SLURM test (slurm-wlm, munge).
# Root: installs what is missing. Not root: says what is missing and how to install it; that
# fails in CI ($CI set), where those tests must run, and is fine elsewhere (they skip).
set -eu
need=""
command -v chromium >/dev/null 2>&1 || need="$need chromium"
command -v slurmctld >/dev/null 2>&1 || need="$need slurm-wlm"
command -v munged >/dev/null 2>&1 || need="$need munge"
[ -z "$need" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "system-deps: missing$need; as root: apt-get install -y$need" >&2
    [ -n "${CI:-}" ] && exit 1
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q || echo "system-deps: apt-get update failed; trying the cached package lists" >&2
apt-get install -y -q $need
