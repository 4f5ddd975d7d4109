#!/usr/bin/env bash
# Start what the integration tests need, on Debian 12 with docker.io, docker-registry, qemu-user-static,
# binfmt-support and busybox-static installed: binfmt/qemu, dockerd, two registries and local base images.
# Idempotent: whatever already runs or exists is left alone. Facts behind each step: notes/docker-here.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="${FLEETGATE_CI_DIR:-/var/tmp/fleetgate-ci}"
# Debian's client by path: the newer /usr/local/bin/docker refuses BuildKit builds without buildx.
DOCKER=(/usr/bin/docker -H unix:///var/run/docker.sock)
REGISTRY_AUTH_USER=fleetgate
REGISTRY_AUTH_PASSWORD=fleetgate-ci
# bcrypt of REGISTRY_AUTH_PASSWORD (Debian's registry accepts only bcrypt in htpasswd files); made with
# python3 -c "import crypt; print(crypt.crypt('fleetgate-ci', crypt.mksalt(crypt.METHOD_BLOWFISH)))"
REGISTRY_AUTH_HASH='$2b$10$QRACybBe1U1twvfJwPINGOCMvFN26ZNORafm2UbRwUXhzopTHyt8q'
PATH_ENV="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

mkdir -p "$STATE"
say() { echo "services: $*"; }

wait_for() { # seconds, description, command...
    local seconds=$1 what=$2
    shift 2
    for _ in $(seq "$seconds"); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 1
    done
    echo "services: $what did not come up within ${seconds}s" >&2
    return 1
}

start_binfmt() {
    if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
        say "binfmt_misc mounted"
    fi
    if [ ! -e /proc/sys/fs/binfmt_misc/qemu-arm ] || ! grep -q enabled /proc/sys/fs/binfmt_misc/qemu-arm; then
        update-binfmts --enable >/dev/null 2>&1 || true
        [ -e /proc/sys/fs/binfmt_misc/qemu-arm ] || { echo "services: qemu-arm not registered" >&2; exit 1; }
        say "qemu registered in binfmt_misc"
    fi
}

start_dockerd() {
    if "${DOCKER[@]}" info >/dev/null 2>&1; then return 0; fi
    # setsid: the daemon must outlive this script and its caller's process group.
    setsid nohup dockerd >/tmp/fleetgate-dockerd.log 2>&1 </dev/null &
    wait_for 60 dockerd "${DOCKER[@]}" info
    say "dockerd started (log /tmp/fleetgate-dockerd.log)"
}

http_answers() { # url: true when anything answers HTTP there (a 401 too); python3, as curl may be missing
    python3 - "$1" <<'PY'
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=3)
except urllib.error.HTTPError:
    pass
except OSError:
    sys.exit(1)
PY
}

start_registry() { # port, auth(yes|no)
    local port=$1 auth=$2 dir="$STATE/registry-$1"
    if http_answers "http://127.0.0.1:$port/v2/"; then return 0; fi
    mkdir -p "$dir/data"
    {
        echo "version: 0.1"
        echo "log: {level: warn}"
        echo "storage:"
        echo "  filesystem: {rootdirectory: $dir/data}"
        echo "  delete: {enabled: true}"
        echo "http: {addr: 127.0.0.1:$port}"
        if [ "$auth" = yes ]; then
            echo "$REGISTRY_AUTH_USER:$REGISTRY_AUTH_HASH" >"$dir/htpasswd"
            echo "auth: {htpasswd: {realm: fleetgate-ci, path: $dir/htpasswd}}"
        fi
    } >"$dir/config.yml"
    setsid nohup /usr/bin/docker-registry serve "$dir/config.yml" >"/tmp/fleetgate-registry-$port.log" 2>&1 </dev/null &
    # The auth registry answers /v2/ with 401: any HTTP answer means it is up.
    wait_for 30 "registry on $port" http_answers "http://127.0.0.1:$port/v2/"
    say "registry started on 127.0.0.1:$port (auth: $auth, log /tmp/fleetgate-registry-$port.log)"
}

has_image() { "${DOCKER[@]}" image inspect "$1" >/dev/null 2>&1; }

busybox_rootfs() { # busybox binary, folder; the applet list comes from the binary itself (qemu if foreign)
    local binary=$1 root=$2
    rm -rf "$root"
    mkdir -p "$root"/{bin,etc,root,proc,sys,dev,run,tmp}
    chmod 1777 "$root/tmp"
    cp "$binary" "$root/bin/busybox"
    # Not `busybox` itself: linking it replaces the binary with a link to itself ("too many levels of links").
    "$root/bin/busybox" --list | grep -vx busybox | while read -r applet; do
        ln -sf busybox "$root/bin/$applet"
    done
    echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
    echo "root:x:0:" >"$root/etc/group"
}

make_busybox_amd64() {
    if has_image busybox-fg-amd64 && has_image busybox-fg; then return 0; fi
    local root="$STATE/rootfs-busybox-amd64"
    busybox_rootfs /bin/busybox "$root"
    tar -C "$root" -c . | "${DOCKER[@]}" import --change "ENV $PATH_ENV" --change 'CMD ["sh"]' - busybox-fg-amd64 >/dev/null
    "${DOCKER[@]}" tag busybox-fg-amd64 busybox-fg
    say "image busybox-fg-amd64 (and busybox-fg) built"
}

make_busybox_armv7hf() {
    if has_image busybox-fg-armv7hf; then return 0; fi
    local deb_dir="$STATE/deb-armhf" root="$STATE/rootfs-busybox-armv7hf"
    if ! ls "$deb_dir"/busybox-static_*_armhf.deb >/dev/null 2>&1; then
        if ! dpkg --print-foreign-architectures | grep -qx armhf; then
            dpkg --add-architecture armhf
        fi
        # A half-synced mirror (e.g. security) fails the update; the package may still be downloadable.
        apt-get update -qq || say "apt-get update reported errors; trying the download anyway"
        mkdir -p "$deb_dir"
        (cd "$deb_dir" && apt-get download -qq -o APT::Sandbox::User=root busybox-static:armhf)
    fi
    rm -rf "$STATE/deb-armhf-x"
    dpkg-deb -x "$deb_dir"/busybox-static_*_armhf.deb "$STATE/deb-armhf-x"
    busybox_rootfs "$STATE/deb-armhf-x/bin/busybox" "$root"
    # `docker import --platform` records amd64 on 20.10: write the save-layout tarball with arm/v7 ourselves.
    python3 "$HERE/make_image.py" "$root" busybox-fg-armv7hf:latest --arch arm --variant v7 |
        "${DOCKER[@]}" load >/dev/null
    say "image busybox-fg-armv7hf built (arm/v7)"
}

make_node() {
    if ! [ -x /usr/bin/node ]; then
        say "no /usr/bin/node here: node-fg not built"
        return 0
    fi
    local major
    major="$(/usr/bin/node --version | sed -E 's/^v([0-9]+).*/\1/')"
    if has_image node-fg && has_image "node-fg:$major"; then return 0; fi
    local root="$STATE/rootfs-node"
    busybox_rootfs /bin/busybox "$root"
    mkdir -p "$root/usr/bin" "$root/usr/lib"
    cp /usr/bin/node /usr/bin/env "$root/usr/bin/"
    # The libraries and the loader ldd names, at their own paths (the loader path is baked into the binary).
    for binary in /usr/bin/node /usr/bin/env; do
        ldd "$binary" | grep -oE '/[^ ]+' | while read -r lib; do
            cp --parents -L "$lib" "$root/"
        done
    done
    if [ -d /usr/lib/node_modules ]; then
        cp -a /usr/lib/node_modules "$root/usr/lib/"
        [ -d "$root/usr/lib/node_modules/npm" ] && ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/bin/npm"
        [ -d "$root/usr/lib/node_modules/npm" ] && ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/bin/npx"
    fi
    tar -C "$root" -c . | "${DOCKER[@]}" import --change "ENV $PATH_ENV" --change 'CMD ["node"]' - node-fg >/dev/null
    "${DOCKER[@]}" tag node-fg "node-fg:$major"
    say "image node-fg (and node-fg:$major) built from the machine's node"
}

make_proxy() { # fleetgate-proxy:2.6: Debian's HAProxy (the servers' proxy) and socat (its runtime API client)
    if has_image fleetgate-proxy:2.6; then return 0; fi
    if ! [ -x /usr/sbin/haproxy ] || ! [ -x /usr/bin/socat ]; then
        echo "services: haproxy and socat are needed for the proxy image: apt-get install haproxy socat" >&2
        exit 1
    fi
    local root="$STATE/rootfs-proxy"
    busybox_rootfs /bin/busybox "$root"
    mkdir -p "$root/usr/sbin" "$root/usr/bin" "$root/etc/fleetgate-proxy" "$root/run/haproxy"
    cp /usr/sbin/haproxy "$root/usr/sbin/"
    cp /usr/bin/socat "$root/usr/bin/"
    for binary in /usr/sbin/haproxy /usr/bin/socat; do
        ldd "$binary" | grep -oE '/[^ ]+' | while read -r lib; do
            cp --parents -L "$lib" "$root/"
        done
    done
    echo "haproxy:x:99:99:haproxy:/run/haproxy:/bin/false" >>"$root/etc/passwd"
    echo "haproxy:x:99:" >>"$root/etc/group"
    tar -C "$root" -c . | "${DOCKER[@]}" import --change "ENV $PATH_ENV" \
        --change 'CMD ["haproxy", "-W", "-db", "-f", "/etc/fleetgate-proxy/haproxy.cfg"]' - fleetgate-proxy:2.6 >/dev/null
    say "image fleetgate-proxy:2.6 built from the machine's haproxy and socat"
}

start_binfmt
start_dockerd
start_registry 5000 no
start_registry 5001 yes
make_busybox_amd64
make_busybox_armv7hf
make_node
make_proxy
say "ready: registry 127.0.0.1:5000, auth registry 127.0.0.1:5001 ($REGISTRY_AUTH_USER/$REGISTRY_AUTH_PASSWORD)"
