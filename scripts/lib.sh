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

# Debian's busybox-static for architecture $1 (e.g. arm64), at the host's version, into
# hearth-testkit's package cache: the foreign half of the multi-platform busybox image.
# Enables the architecture in dpkg and refreshes apt's lists only when apt lacks it.
fetch_foreign_busybox() {
    arch=$1 cache=${HEARTH_TESTKIT_CACHE:-/var/cache/hearth-testkit}
    version=$(dpkg-query -W -f='${Version}' busybox-static) || die "busybox-static is not installed"
    deb="$cache/busybox-static_${version//:/%3a}_$arch.deb"
    [ -f "$deb" ] && return 0
    if ! dpkg --print-foreign-architectures | grep -qx "$arch" \
        || ! apt-cache show "busybox-static:$arch=$version" >/dev/null 2>&1; then
        step "enabling the $arch architecture for apt (dpkg --add-architecture $arch)"
        dpkg --add-architecture "$arch"
        apt-get update -qq || die "apt-get update failed; check the machine's network and apt sources"
    fi
    mkdir -p "$cache"
    tmp=$(mktemp -d "$cache/.download-XXXXXX")
    (cd "$tmp" && apt-get download -qq "busybox-static:$arch=$version") \
        || { rm -rf "$tmp"; die "apt-get download busybox-static:$arch=$version failed"; }
    mv "$tmp"/*.deb "$deb"
    rm -rf "$tmp"
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

# Whether a Distribution registry answers at $1 (host:port).
registry_up() {
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://$1/v2/" 2>/dev/null || true)
    [ "$code" = 200 ] || [ "$code" = 401 ]
}

# Starts Debian's docker-registry on $1 (host:port) with its data in $2, unless one already
# answers there. Sets STARTED_REGISTRY_PID when it started one.
start_registry() {
    addr=$1 data=$2
    STARTED_REGISTRY_PID=
    registry_up "$addr" && return 0
    mkdir -p "$data"
    cat >"$data/config.yml" <<CONFIG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $data/storage
  delete:
    enabled: true
http:
  addr: $addr
CONFIG
    setsid docker-registry serve "$data/config.yml" >"$data/registry.log" 2>&1 &
    STARTED_REGISTRY_PID=$!
    for _ in $(seq 1 100); do
        registry_up "$addr" && return 0
        sleep 0.1
    done
    die "docker-registry did not start on $addr; see $data/registry.log"
}
