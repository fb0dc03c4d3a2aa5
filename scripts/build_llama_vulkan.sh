#!/usr/bin/env bash
# Builds llama.cpp's Vulkan `llama-bench` for the comparison on the same
# Vulkan adapter (`scripts/bench.py --llama-vulkan`, and the GPU check's
# second call, scripts/device/): the llama.cpp that llama-cpp-python 0.3.36
# (PyPI, the version the harness's CPU side pins) vendors, built with its
# Vulkan backend, statically and for any x86-64 with AVX2 (not this CPU
# alone: the GPU machine has another), into .tools/llama-vulkan/llama-bench.
# About 15 minutes on two cores, most of it compiling the Vulkan shaders.
#
# Needs apt (glslc, libvulkan-dev, spirv-headers, cmake, g++). That llama.cpp
# needs Vulkan headers newer than bookworm's 1.3.239 (VK_EXT_layer_settings):
# the headers alone are taken from Debian trixie's libvulkan-dev, from the
# mirror the system's apt already uses. bookworm's glslc (2023.2) has no
# GL_EXT_integer_dot_product or cooperative matrices, so those shader
# variants are left out (lavapipe has neither; a GPU's llama.cpp would use
# them for prefill).
#
#   bash scripts/build_llama_vulkan.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/.tools/llama-vulkan
mkdir -p "$out" && cd "$out"

apt-get install -y -q glslc libvulkan-dev spirv-headers cmake g++ >/dev/null

# The sdist, without building it: its metadata needs scikit-build-core.
if [ ! -f llama_cpp_python-0.3.36.tar.gz ]; then
  python3 -m venv venv
  venv/bin/pip install -q scikit-build-core
  venv/bin/pip download -q --no-deps --no-binary=:all: --no-build-isolation \
    llama-cpp-python==0.3.36 -d .
fi
[ -d llama_cpp_python-0.3.36 ] || tar xzf llama_cpp_python-0.3.36.tar.gz
src=$out/llama_cpp_python-0.3.36/vendor/llama.cpp

# Newer Vulkan headers, unpacked here (not installed).
if [ ! -f vulkan-headers/usr/include/vulkan/vulkan.hpp ] ||
   ! grep -q LayerSettingEXT vulkan-headers/usr/include/vulkan/vulkan*.hpp; then
  # The first of the system's Debian mirrors that serves trixie's index.
  mirrors=$( (grep -rhoE 'https?://[^ ]+/debian/?' /etc/apt/sources.list /etc/apt/sources.list.d/ \
              2>/dev/null || true) | sort -u)
  o="-o Dir::Etc::SourceList=$out/trixie.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$out/apt-lists"
  found=
  for mirror in $mirrors; do
    rm -rf apt-lists && mkdir -p apt-lists/partial
    echo "deb $mirror trixie main" > trixie.list
    apt-get $o update -q >/dev/null 2>&1 || true
    if ls apt-lists/*trixie*Packages* >/dev/null 2>&1; then found=$mirror; break; fi
  done
  [ -n "$found" ] || { echo "no Debian mirror of the apt sources serves trixie" >&2; exit 1; }
  mkdir -p debs
  (cd debs && apt-get $o download libvulkan-dev >/dev/null)
  dpkg -x debs/libvulkan-dev_*.deb vulkan-headers
fi

cmake -S "$src" -B build -DGGML_VULKAN=ON -DLLAMA_CURL=OFF -DGGML_NATIVE=OFF \
  -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TESTS=OFF -DBUILD_SHARED_LIBS=OFF \
  -DCMAKE_BUILD_TYPE=Release -DVulkan_INCLUDE_DIR="$out/vulkan-headers/usr/include" >/dev/null
cmake --build build --target llama-bench -j "$(nproc)" >build.log 2>&1 ||
  { tail -30 build.log; exit 1; }
cp build/bin/llama-bench "$out/llama-bench"
echo "built $out/llama-bench"
