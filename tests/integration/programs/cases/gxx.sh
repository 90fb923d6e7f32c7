#!/usr/bin/env bash
# gxx.sh GXX SRCDIR -- g++ (cc1plus, as, collect2/ld all inherit LD_PRELOAD) compiles
# cxx_threads.cpp with -O2 and the C++ standard library headers, then the program runs (under
# cowgc too: operator new and std::thread); prints the object's checksum and the program's output.
set -euo pipefail
gxx=$1 src=$2
"$gxx" -std=c++17 -O2 -Wall -pthread -c "$src/cxx_threads.cpp" -o cxx_threads.o
sha256sum <cxx_threads.o
"$gxx" -pthread cxx_threads.o -o cxx_threads
./cxx_threads
