#!/usr/bin/env bash
# tools/setup.sh: installs everything pier's build, tests, examples and benches need, from
# Debian's apt and (for Node's `ws`) npm. Idempotent and quick when all is there: it asks dpkg
# first and runs `apt-get update` only when something is missing.
#
#   tools/setup.sh              the base set (GCC and clang-16, CMake, Asio, OpenSSL, zlib,
#                               nlohmann/json, Boost.Test, Google Benchmark, curl, wget, wrk,
#                               nginx, python3-websockets, node, iproute2, hiredis and
#                               redis-server/redis-cli, prometheus for promtool and the scrape test)
#   tools/setup.sh --node-ws    also Node's `ws` package, into tests/peers/node_modules (ignored
#                               by git; the peer tests get it on NODE_PATH)
#   tools/setup.sh --playwright also Node's `playwright-core` there (drives Debian's chromium
#                               in tests/peers/pool_dashboard.js; downloads no browser)
#   tools/setup.sh --browser    also Debian's chromium and chromium-driver
#   tools/setup.sh --redis      redis-server (now in the base set; kept for old callers)
#   tools/setup.sh --quiet      print only what is being installed
#
# tools/test.sh and tools/run.sh call this; tools/test.sh adds --node-ws / --browser when a peer
# test mentions them. Debian's prometheus package starts its daemon from postinst: apt_install's
# policy-rc.d keeps it from doing so. Needs root (or sudo) only when something has to be installed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# clang-16 and its sanitizer runtimes compile tools/test.sh's ASan+UBSan and TSan trees (about
# twice as fast as GCC there, and a second compiler's warnings); clang (14) is tools/fuzz.sh's.
BASE_PACKAGES=(
    build-essential g++ clang lld clang-16 libclang-rt-16-dev cmake ninja-build pkg-config python3
    libasio-dev libssl-dev openssl zlib1g-dev nlohmann-json3-dev
    libboost-test-dev libboost-dev libbenchmark-dev
    wrk curl wget nginx-light python3-websockets nodejs
    iproute2 procps psmisc prometheus
    libhiredis-dev redis-server redis-tools
)
BROWSER_PACKAGES=(chromium chromium-driver)
REDIS_PACKAGES=(redis-server)
# Pinned so that a run next month tests against the same peer; bump deliberately.
NODE_WS_VERSION="8.18.0"
PLAYWRIGHT_VERSION="1.65.2"

QUIET=0
log() { [[ $QUIET == 1 ]] || echo "setup: $*"; }

as_root() {
    if [[ $(id -u) == 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "setup: need root to run: $*" >&2
        return 1
    fi
}

# missing_packages NAME...: prints the packages dpkg does not report as installed (one dpkg
# call for all of them: a call costs about half a second).
missing_packages() {
    local installed
    installed="$(dpkg-query -W -f='${Package} ${Status}\n' "$@" 2>/dev/null |
        awk '$NF == "installed" && $(NF-1) == "ok" { print $1 }')" || true
    local p
    for p in "$@"; do
        if ! grep -qxF "$p" <<<"$installed"; then
            echo "$p"
        fi
    done
}

APT_UPDATED=0
apt_install() {
    local missing
    mapfile -t missing < <(missing_packages "$@")
    if [[ ${#missing[@]} == 0 ]]; then
        return 0
    fi
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if [[ $APT_UPDATED == 0 ]]; then
        as_root apt-get update -qq
        APT_UPDATED=1
    fi
    # Packages such as nginx-light start their service from postinst; a test machine must not
    # grow daemons on port 80. policy-rc.d exit 101 = "action forbidden" (invoke-rc.d's
    # convention), only for the duration of this install and only if none exists already.
    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
        as_root chmod +x "$policy"
        created_policy=1
    fi
    local rc=0
    as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" || rc=$?
    if [[ $created_policy == 1 ]]; then
        as_root rm -f "$policy"
    fi
    return $rc
}

# npm: Debian's npm package conflicts with NodeSource's nodejs (which bundles npm), so install
# it from apt only when no npm is on PATH at all.
ensure_npm() {
    if ! command -v npm >/dev/null 2>&1; then
        apt_install npm
    fi
}

# setup_node_packages NAME@VERSION...: Node packages into tests/peers/node_modules, where
# `require()` from a script in tests/peers/ finds them (NODE_PATH covers scripts elsewhere).
# --no-save: no package.json or lock file appears in the source tree. One npm call for all of
# them, those already there included, because `npm install --no-save` removes every package of
# the prefix that the call does not name. playwright-core downloads no browser: the tests point
# it at Debian's chromium.
setup_node_packages() {
    local dir="$ROOT/tests/peers"
    local -A want=()
    local spec name
    for spec in "$@"; do want[${spec%@*}]=$spec; done
    [[ ! -f $dir/node_modules/ws/package.json ]] || want[ws]=${want[ws]:-ws@$NODE_WS_VERSION}
    [[ ! -f $dir/node_modules/playwright-core/package.json ]] ||
        want[playwright-core]=${want[playwright-core]:-playwright-core@$PLAYWRIGHT_VERSION}
    local missing=0
    for name in "${!want[@]}"; do
        if ! grep -qs "\"version\": \"${want[$name]##*@}\"" "$dir/node_modules/$name/package.json"; then
            missing=1
        fi
    done
    [[ $missing == 1 ]] || return 0
    ensure_npm
    echo "setup: installing node ${want[*]} into tests/peers/node_modules"
    mkdir -p "$dir/node_modules"
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-save --no-audit --no-fund \
        --loglevel=error --prefix "$dir" "${want[@]}" >/dev/null)
}

main() {
    local want_node_ws=0 want_browser=0 want_redis=0 want_playwright=0
    local arg
    for arg in "$@"; do
        case "$arg" in
        --node-ws) want_node_ws=1 ;;
        --browser) want_browser=1 ;;
        --redis) want_redis=1 ;;
        --playwright) want_playwright=1 want_browser=1 ;;
        --quiet | -q) QUIET=1 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
            return 0
            ;;
        *)
            echo "setup: unknown option $arg (see --help)" >&2
            return 2
            ;;
        esac
    done

    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "setup: not a Debian-based system; install the equivalents of:" >&2
        echo "  ${BASE_PACKAGES[*]}" >&2
        return 1
    fi

    local packages=("${BASE_PACKAGES[@]}")
    [[ $want_browser == 0 ]] || packages+=("${BROWSER_PACKAGES[@]}")
    [[ $want_redis == 0 ]] || packages+=("${REDIS_PACKAGES[@]}")
    apt_install "${packages[@]}"
    ensure_npm
    local node_packages=()
    [[ $want_node_ws == 0 ]] || node_packages+=("ws@$NODE_WS_VERSION")
    [[ $want_playwright == 0 ]] || node_packages+=("playwright-core@$PLAYWRIGHT_VERSION")
    [[ ${#node_packages[@]} == 0 ]] || setup_node_packages "${node_packages[@]}"
    log "all dependencies present"
}

# Sourcing this file (`. tools/setup.sh`) only defines the functions above.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    main "$@"
fi
