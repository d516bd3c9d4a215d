# shellcheck shell=bash
# Shared helpers for vnetd's scripts (sourced, never executed).
#   vn_log / vn_warn / vn_die   messages on stderr, prefixed with the script name
#   vn_require_root             re-executes the calling script under sudo when not root
#   vn_find_cargo               makes `cargo` resolvable (~/.cargo/bin, the sudo user's)
#   vn_cargo ARGS...            runs cargo; under sudo it runs as the invoking user so
#                               that target/ stays owned by them

VN_ROOT=${VN_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
VN_PROG=${VN_PROG:-$(basename "$0")}

vn_log()  { printf '[%s] %s\n' "$VN_PROG" "$*" >&2; }
vn_warn() { printf '[%s] WARNING: %s\n' "$VN_PROG" "$*" >&2; }
vn_die()  { printf '[%s] ERROR: %s\n' "$VN_PROG" "$*" >&2; exit 1; }

# vn_require_root "$0" "$@": when not root, re-exec through sudo keeping PATH (for cargo).
vn_require_root() {
    local self=$1; shift
    if [[ $EUID -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || vn_die "must run as root (sudo not found)"
        vn_log "not root: re-running under sudo"
        exec sudo --preserve-env=CI,VN_KEEP,VN_DEBUG env "PATH=$PATH" "$self" "$@"
    fi
}

# The user who called sudo, if any (and not root).
vn_build_user() {
    if [[ $EUID -eq 0 && -n ${SUDO_USER:-} && ${SUDO_USER} != root ]] \
        && [[ $(stat -c %U "$VN_ROOT") == "$SUDO_USER" ]]; then
        printf '%s\n' "$SUDO_USER"
    fi
}

vn_find_cargo() {
    local d home user
    command -v cargo >/dev/null 2>&1 && return 0
    user=$(vn_build_user)
    for d in "${CARGO_HOME:-$HOME/.cargo}/bin" "$HOME/.cargo/bin"; do
        if [[ -x $d/cargo ]]; then PATH="$d:$PATH"; export PATH; return 0; fi
    done
    if [[ -n $user ]]; then
        home=$(getent passwd "$user" | cut -d: -f6)
        if [[ -n $home && -x $home/.cargo/bin/cargo ]]; then
            PATH="$home/.cargo/bin:$PATH"; export PATH; return 0
        fi
    fi
    vn_die "cargo not found (expected on PATH or in ~/.cargo/bin); install Rust 1.95 with rustup"
}

vn_cargo() {
    local user
    vn_find_cargo
    user=$(vn_build_user)
    if [[ -n $user ]]; then
        sudo -u "$user" -H env "PATH=$PATH" cargo "$@"
    else
        cargo "$@"
    fi
}
