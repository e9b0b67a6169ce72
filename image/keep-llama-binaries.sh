#!/bin/sh
# Usage: keep-llama-binaries.sh NODE_MODULES [GPU_BACKEND...]
#
# node-llama-cpp installs its prebuilt llama.cpp binaries as optional packages, one per platform and GPU
# backend (node_modules/@node-llama-cpp/linux-x64, linux-x64-cuda, linux-x64-cuda-ext, linux-x64-vulkan, ...;
# node-llama-cpp dist/bindings/utils/compileLLamaCpp.js picks among them at run time). Keep the CPU package
# for this machine's architecture and, per GPU_BACKEND named (e.g. `cuda`), linux-<arch>-<backend>; remove
# every other one. The Dockerfile's dependency stages run it; test/image/ runs the same RUN lines.
set -eu
modules="$1"
shift
arch="$(node -p process.arch)"
keep=" linux-$arch "
for backend in "$@"; do
  keep="$keep linux-$arch-$backend "
done
for dir in "$modules"/@node-llama-cpp/*; do
  name="$(basename "$dir")"
  case "$keep" in
    *" $name "*) ;;
    *) rm -rf "$dir" ;;
  esac
done
echo "kept llama.cpp binaries:$(for dir in "$modules"/@node-llama-cpp/*; do printf ' %s' "$(basename "$dir")"; done)"
