#!/usr/bin/env bash
# Build the C library and install it for C and C++ consumers:
#
#   PREFIX=/usr/local scripts/install.sh      (PREFIX defaults to /usr/local)
#
# Installs include/wsengine.h, lib/libwsengine.so.VERSION with its SONAME link
# (libwsengine.so.0.1 while the major version is 0) and the plain .so link,
# lib/libwsengine.a, lib/pkgconfig/wsengine.pc, and
# lib/cmake/wsengine/wsengineConfig{,Version}.cmake (imported targets
# wsengine::wsengine and wsengine::wsengine_static).
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX="${PREFIX:-/usr/local}"
case "$PREFIX" in /*) ;; *) PREFIX="$PWD/$PREFIX" ;; esac

version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
major="${version%%.*}"
rest="${version#*.}"
minor="${rest%%.*}"
if [ "$major" = 0 ]; then soname="libwsengine.so.0.$minor"; else soname="libwsengine.so.$major"; fi
# What a program linking the static library also needs (from
# `cargo rustc --crate-type staticlib -- --print native-static-libs` on Linux).
native_libs="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"

cargo build --release --lib --quiet

install -d "$PREFIX/include" "$PREFIX/lib/pkgconfig" "$PREFIX/lib/cmake/wsengine"
install -m 644 include/wsengine.h "$PREFIX/include/wsengine.h"
install -m 755 target/release/libwsengine.so "$PREFIX/lib/libwsengine.so.$version"
ln -sfn "libwsengine.so.$version" "$PREFIX/lib/$soname"
ln -sfn "$soname" "$PREFIX/lib/libwsengine.so"
install -m 644 target/release/libwsengine.a "$PREFIX/lib/libwsengine.a"

fill() { # template output
  sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@VERSION@|$version|g" -e "s|@SONAME@|$soname|g" \
      -e "s|@MAJOR@|$major|g" -e "s|@MINOR@|$minor|g" -e "s|@NATIVE_LIBS@|$native_libs|g" \
      -e "s|@NATIVE_LIBS_CMAKE@|$(echo "$native_libs" | sed 's/-l//g; s/ /;/g')|g" "$1" > "$2"
}
fill packaging/wsengine.pc.in "$PREFIX/lib/pkgconfig/wsengine.pc"
fill packaging/wsengineConfig.cmake.in "$PREFIX/lib/cmake/wsengine/wsengineConfig.cmake"
fill packaging/wsengineConfigVersion.cmake.in "$PREFIX/lib/cmake/wsengine/wsengineConfigVersion.cmake"
echo "installed wsengine $version into $PREFIX (SONAME $soname)"
