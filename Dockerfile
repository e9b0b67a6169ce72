# syntax=docker/dockerfile:1
#
# GGUF inference service: Fastify 5 + node-llama-cpp 3, using the prebuilt llama.cpp binaries from
# @node-llama-cpp/linux-*. Two targets (README "Build the image"):
#   runtime       CPU, on the official Node image (linux/amd64 and linux/arm64)
#   runtime-cuda  CUDA 13 + CPU fallback, on NVIDIA's CUDA runtime image (linux/amd64)
# No model is baked in: the init container runs `node build/service/fetch-model.js`
# (service/contract.ts containerCommands.fetchModel) to download and verify MODEL into the /models volume,
# then the main container serves it.
#
# Both run as uid/gid 10001 with a read-only root filesystem: only /tmp and /models need to be writable.
# Nothing writes into node_modules at run time (the prebuilt binary is loaded as is, `build: 'never'`).
# test/image/image.test.ts builds and runs the `runtime` target without a Docker engine from this file;
# test/image/cuda-libraries.test.ts checks what the `runtime-cuda` binaries link against.

# Node.js, pinned: the version CI tests with. Node 20.19+ loads the service's ESM build and node-llama-cpp.
ARG NODE_VERSION=20.20.2
ARG NODE_IMAGE=node:${NODE_VERSION}-bookworm-slim
# CUDA major 13: @node-llama-cpp/linux-x64-cuda 3.21.1 links libcudart.so.13 and libcublas.so.13 and was
# compiled with nvcc 13.1 (strings in its libggml-cuda.so), so the runtime libraries must be 13.1 or newer.
# The NVIDIA driver on the node must support CUDA 13.1: 590.44.01 or newer (charts/rules/cuda-driver.ts checks
# the cluster profiles' GPU nodes against it).
ARG CUDA_IMAGE=nvidia/cuda:13.1.0-runtime-ubuntu24.04

# ---- build: compile TypeScript to build/ -------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# node-llama-cpp's postinstall would look for (and might try to compile) llama.cpp binaries; the prebuilt
# @node-llama-cpp/* packages already are the binaries, so skip it: no compiler, no network at build time.
ENV NODE_LLAMA_CPP_POSTINSTALL=skip \
    NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
# patches/: fixes applied to dependencies by `patch-package` in npm's postinstall (docs/memory.md).
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --no-audit --no-fund
# The service layer compiles on its own (service/tsconfig.json has no project references): build/service/.
COPY tsconfig.json ./
COPY service ./service
RUN npx tsc -b service

# ---- production dependencies, every prebuilt binary ---------------------------------------------------
FROM ${NODE_IMAGE} AS production-deps
WORKDIR /app
ENV NODE_ENV=production \
    NODE_LLAMA_CPP_POSTINSTALL=skip \
    NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
COPY package.json package-lock.json ./
COPY patches ./patches
COPY image ./image
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force \
 && rm -rf /root/.npm /tmp/*

# Each runtime copies one of these: the binaries it cannot use never reach its layers. All of them together
# are ~710 MB on x64 (cuda-ext, the CUDA 12 fallback, alone ~375 MB); the CPU runtime's node_modules is
# ~125 MB with linux-x64 (~30 MB) kept, the CUDA one adds linux-x64-cuda (~190 MB). `du -sb`, measured by
# test/image/.
FROM production-deps AS production-deps-cpu
RUN sh image/keep-llama-binaries.sh node_modules

FROM production-deps AS production-deps-cuda
RUN sh image/keep-llama-binaries.sh node_modules cuda

# ---- runtime: CPU -------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    NODE_LLAMA_CPP_POSTINSTALL=skip \
    NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
# package.json: "type": "module" makes Node load build/ as ES modules.
COPY package.json ./
COPY --from=production-deps-cpu /app/node_modules ./node_modules
COPY --from=build /app/build ./build
# Non-root user with a fixed numeric id, so `runAsNonRoot` can verify it and volume ownership is predictable.
# HOME=/tmp: the only writable place besides the model cache under a read-only root filesystem.
RUN groupadd --gid 10001 app \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin app \
 && mkdir -p /models \
 && chown 10001:10001 /models
# UV_THREADPOOL_SIZE, MALLOC_*, NODE_OPTIONS: service/contract.ts serverRuntimeEnv explains each (decode speed, RSS);
# test/image/cuda-libraries.test.ts keeps them equal to it.
ENV HOME=/tmp \
    UV_THREADPOOL_SIZE=1 \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=131072 \
    NODE_OPTIONS=--max-semi-space-size=2 \
    HOST=0.0.0.0 \
    MODEL_CACHE_DIR=/models
VOLUME /models
USER 10001:10001
EXPOSE 8080
# Node runs as PID 1: both entry points install their own SIGTERM handlers (drain / keep the .partial).
CMD ["node", "build/service/main.js"]

# ---- runtime-cuda: CUDA 13 + CPU ----------------------------------------------------------------------
# NVIDIA's runtime image ships the CUDA runtime and cuBLAS (test/image/cuda-base-libraries.ts lists what it
# provides; the NVIDIA container toolkit mounts the driver's libcuda.so.1 at run time). Node comes from the
# same pinned official image as the CPU target: the single `node` binary, which links only glibc, libstdc++
# and libgcc_s (Ubuntu 24.04 ships all three).
FROM ${CUDA_IMAGE} AS runtime-cuda
COPY --from=build /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
ENV NODE_ENV=production \
    NODE_LLAMA_CPP_POSTINSTALL=skip \
    NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
COPY package.json ./
COPY --from=production-deps-cuda /app/node_modules ./node_modules
COPY --from=build /app/build ./build
RUN groupadd --gid 10001 app \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin app \
 && mkdir -p /models \
 && chown 10001:10001 /models
ENV HOME=/tmp \
    UV_THREADPOOL_SIZE=1 \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=131072 \
    NODE_OPTIONS=--max-semi-space-size=2 \
    HOST=0.0.0.0 \
    MODEL_CACHE_DIR=/models
VOLUME /models
USER 10001:10001
EXPOSE 8080
CMD ["node", "build/service/main.js"]
