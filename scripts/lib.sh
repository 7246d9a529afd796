# Shared helpers for hearth's set-up and test scripts (sourced, not run).
# Every step says what it does; failures stop the script with the step's name.

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

need_root() {
    [ "$(id -u)" = 0 ] || die "run this as root (it installs Debian packages): sudo $0"
}

# apt-get install only what is missing, quietly, without recommends.
install_packages() {
    missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    step "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed; check the machine's network and apt sources"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
}

require_rust() {
    if [ -x "$HOME/.cargo/bin/cargo" ]; then PATH="$HOME/.cargo/bin:$PATH"; fi
    command -v cargo >/dev/null || die "Rust is not installed: install a toolchain >= 1.85 with rustup (https://rustup.rs), then rerun"
    ver=$(rustc --version | awk '{print $2}')
    major=${ver%%.*}; rest=${ver#*.}; minor=${rest%%.*}
    if [ "$major" -lt 1 ] || { [ "$major" -eq 1 ] && [ "$minor" -lt 85 ]; }; then
        die "rustc $ver is too old: hearth needs 1.85 or newer (rustup update stable)"
    fi
}
