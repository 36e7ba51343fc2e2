#!/usr/bin/env bash
# Build a free-threaded CPython (configured with --disable-gil) from Debian's source package,
# for machines that reach Debian's archive but not python.org, pyenv's mirrors or uv's builds.
#
#   sudo scripts/build-freethreaded-python.sh [--with-gil] PREFIX [VERSION]
#
# PREFIX is where the interpreter is installed (PREFIX/bin/python3.13t); VERSION is the minor
# version, 3.13 by default. --with-gil builds the default interpreter (PREFIX/bin/python3.13)
# from the same source and options instead: the build to hold a free-threaded one against, so
# that a comparison of the two measures the build, not a patch release or compiler flags.
# Running it again when PREFIX already holds a working interpreter of that kind does nothing. Each step that cannot be done here stops the script with one line
# saying which and why. With internet access, `pyenv install 3.13t` or `uv python install 3.13t`
# give the same interpreter without a build.
set -euo pipefail

fail() {
    echo "build-freethreaded-python: error: $*" >&2
    exit 1
}

with_gil=0
if [[ ${1:-} == --with-gil ]]; then
    with_gil=1
    shift
fi
[[ $# -ge 1 && $# -le 2 ]] || fail "usage: $0 [--with-gil] PREFIX [VERSION] (e.g. $0 /opt/python3.13t 3.13)"
prefix=$(realpath -m "$1")
version=${2:-3.13}
[[ $version =~ ^3\.(1[3-9])$ ]] || fail "VERSION must be 3.13 or later (free-threading began in 3.13), got '$version'"
if ((with_gil)); then
    python="$prefix/bin/python${version}"
    configure_options=()
    # exit status 0 when the GIL is enabled, the kind of build asked for
    kind_check='import sys; sys.exit(not getattr(sys, "_is_gil_enabled", lambda: True)())'
    kind="a default (GIL) build"
else
    python="$prefix/bin/python${version}t"
    configure_options=(--disable-gil)
    kind_check='import sys; sys.exit(sys._is_gil_enabled())'
    kind="a free-threaded build"
fi
source_list=/etc/apt/sources.list.d/concbench-deb-src.list

on_path() {
    if ((with_gil)); then
        # Prepended for one command only: it must shadow the python$version already on PATH.
        echo "run with it:          PATH=\"$prefix/bin:\$PATH\" tox -e py${version/./}-bench"
        return
    fi
    # Appended, not prepended: PREFIX/bin also holds python3 and python$version, which must not
    # shadow the interpreters already on PATH.
    echo "put it on PATH with:  export PATH=\"\$PATH:$prefix/bin\""
    echo "then run:             tox -e py${version/./}t-bench   (or py${version/./}t-test)"
}

if [[ -x $python ]] && "$python" -c "$kind_check" 2>/dev/null; then
    echo "$python is already $kind: $("$python" -VV | head -1)"
    on_path
    exit 0
fi

command -v apt-get >/dev/null || fail "apt-get not found: this script builds from Debian's source packages"
[[ $(id -u) -eq 0 ]] || fail "must run as root: it adds a deb-src line and installs build dependencies with apt-get"

started=$SECONDS
if ! grep -rqs '^deb-src .*debian' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "adding $source_list (Debian's source packages of sid, the suite that carries python$version)"
    echo "deb-src http://deb.debian.org/debian sid main" >"$source_list"
fi
echo "apt-get update"
apt-get update -qq >/dev/null 2>&1 || fail "apt-get update failed: Debian's archive cannot be reached from here"

packages=(build-essential pkg-config libssl-dev zlib1g-dev libffi-dev libbz2-dev liblzma-dev
    libsqlite3-dev libreadline-dev libncurses-dev uuid-dev libgdbm-dev libgdbm-compat-dev tk-dev
    libzstd-dev libexpat1-dev xz-utils)
echo "installing build dependencies (${#packages[@]} packages)"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null 2>&1 \
    || fail "apt-get install of the build dependencies failed: ${packages[*]}"

# The source package's version must be named. The archive's index can list versions whose files
# it no longer (or not yet) serves, so try them newest first until one downloads.
versions=$(apt-cache showsrc "python$version" 2>/dev/null | sed -n 's/^Version: //p' | sort -Vr | uniq)
[[ -n $versions ]] || fail "Debian's archive offers no source package python$version (apt-cache showsrc python$version is empty)"

work="$prefix.build"
mkdir -p "$work"
cd "$work"
if ! ls python"$version"_*.orig.tar.xz >/dev/null 2>&1; then
    for source_version in $versions; do
        echo "downloading the source of python$version=$source_version"
        if apt-get source --download-only -qq "python$version=$source_version" >/dev/null 2>&1; then
            break
        fi
        echo "  not served by the archive; trying an older version"
    done
    ls python"$version"_*.orig.tar.xz >/dev/null 2>&1 \
        || fail "the archive serves none of the listed sources of python$version ($(echo $versions))"
fi
tarball=$(ls python"$version"_*.orig.tar.xz | head -1)
rm -rf src && mkdir src
tar -xf "$tarball" -C src --strip-components=1

cd src
jobs=$(nproc)
echo "configure ${configure_options[*]} --prefix=$prefix"
./configure "${configure_options[@]}" --prefix="$prefix" >"$work/configure.log" 2>&1 \
    || fail "configure failed; see $work/configure.log"
echo "make -j$jobs (several minutes)"
make -j"$jobs" >"$work/make.log" 2>&1 || fail "make failed; see $work/make.log"
echo "make install"
make install >"$work/install.log" 2>&1 || fail "make install failed; see $work/install.log"

[[ -x $python ]] || fail "the build finished but $python does not exist"
"$python" -c "$kind_check" || fail "$python was built but is not $kind"
echo "built in $((SECONDS - started)) s: $("$python" -VV | head -1)"
on_path
