#!/usr/bin/env bash
# The C side of the project, as a consumer sees it:
#   1. the header compiles as C11 and as C++17 with strict warnings, and
#      every function's comment has Ownership, Thread safety and Errors;
#   2. the library is installed into target/install (scripts/install.sh);
#   3. the C examples build against that tree with pkg-config, and again
#      with CMake find_package;
#   4. every tests/c/test_*.c runs built with AddressSanitizer and
#      UndefinedBehaviorSanitizer (static library; ASan checked to be
#      linked), and again under valgrind (shared library; zero definite leaks;
#      tests/c/valgrind.supp says which reports are memcheck's, not ours).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=target/c
PREFIX="$PWD/target/install"
STRICT="-Wall -Wextra -Wpedantic -Werror"
CFLAGS="-std=c11 $STRICT -g -pthread"
mkdir -p "$OUT"

echo "==> header compiles as C11 and C++17"
printf '#include "wsengine.h"\nint main(void) { return wse_version() == 0; }\n' > "$OUT/header_check.c"
cp "$OUT/header_check.c" "$OUT/header_check.cpp"
cc -std=c11 $STRICT -Iinclude -c "$OUT/header_check.c" -o "$OUT/header_check_c.o"
c++ -std=c++17 $STRICT -Iinclude -c "$OUT/header_check.cpp" -o "$OUT/header_check_cpp.o"
python3 scripts/check-header-docs.py include/wsengine.h

echo "==> install into $PREFIX"
PREFIX="$PREFIX" scripts/install.sh
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"

echo "==> C examples with pkg-config"
mkdir -p "$OUT/examples-pkgconfig"
make -s -C examples/c OUT="$PWD/$OUT/examples-pkgconfig"

echo "==> C examples with CMake find_package"
cmake -S examples/c -B "$OUT/examples-cmake" -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$OUT/examples-cmake" >/dev/null
ls "$OUT/examples-cmake/echo_server" "$OUT/examples-cmake/client" "$OUT/examples-cmake/game_loop" "$OUT/examples-cmake/chat_server" >/dev/null

echo "==> game_loop runs a few ticks and answers a client"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
GAME_LOOP_TICKS=60 "$OUT/examples-cmake/game_loop" "127.0.0.1:$port" > "$OUT/game_loop.log" &
game=$!
sleep 0.5
printf 'jump\n' | timeout 10 "$OUT/examples-pkgconfig/client" "ws://127.0.0.1:$port/" > "$OUT/client.log" 2>&1 || true
wait "$game"
grep -q "tick [0-9]*: jump" "$OUT/client.log" || { echo "client did not get the game's answer:"; cat "$OUT/client.log"; exit 1; }
grep -q "messages answered" "$OUT/game_loop.log"

scripts/make-test-certs.sh target/certs
export WSE_TEST_CERTS="$PWD/target/certs"
native="$(pkg-config --static --libs-only-l wsengine | sed 's/-lwsengine//')"
# The suppressions, with the per-iovec entry written out for each index.
awk '/^# IOV$/ { keep = 1; next } keep { block = block $0 "\n"; next } { print }
     END { for (i = 0; i < 64; i++) { b = block; gsub(/IOV/, i, b); printf "%s", b } }' \
  tests/c/valgrind.supp > "$OUT/valgrind.supp"
status=0
for src in tests/c/test_*.c; do
  name="$(basename "$src" .c)"
  echo "==> $name under ASan+UBSan"
  cc $CFLAGS -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
    -Iinclude "$src" "$PREFIX/lib/libwsengine.a" $native -o "$OUT/$name-asan"
  # (grep -c reads everything: grep -q would stop early and SIGPIPE nm under pipefail)
  nm "$OUT/$name-asan" | grep -c __asan_init >/dev/null || { echo "ASan is not linked into $name"; exit 1; }
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$OUT/$name-asan" || status=1

  echo "==> $name under valgrind"
  cc $CFLAGS -O1 $(pkg-config --cflags wsengine) "$src" $(pkg-config --libs wsengine) \
    -Wl,-rpath,"$PREFIX/lib" -o "$OUT/$name"
  valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
    --suppressions="$OUT/valgrind.supp" \
    --show-leak-kinds=definite "$OUT/$name" || status=1
done
exit $status
