#!/usr/bin/env bash
# Make sure the real servers/clients the tests start are installed:
# dovecot + doveadm (dovecot-imapd), mbsync (isync), python3.
set -euo pipefail

pkgs=()
{ command -v dovecot && command -v doveadm; } >/dev/null 2>&1 || pkgs+=(dovecot-imapd)
command -v mbsync >/dev/null 2>&1 || pkgs+=(isync)
command -v python3 >/dev/null 2>&1 || pkgs+=(python3)

[ ${#pkgs[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "test dependencies missing; install them with: sudo apt-get install -y ${pkgs[*]}" >&2
  exit 1
fi
echo "installing test dependencies: ${pkgs[*]}" >&2
apt-get update >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y "${pkgs[@]}" >/dev/null
