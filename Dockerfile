# syntax=docker/dockerfile:1
#
# GGUF inference service: Fastify 5 + node-llama-cpp 3 on CPU, using the prebuilt llama.cpp binaries
# from @node-llama-cpp/linux-*. No model is baked in: the init container runs
# `node build/service/fetch-model.js` (service/contract.ts containerCommands.fetchModel) to download and
# verify MODEL into the /models volume, then the main container serves it.
#
# Runs as uid/gid 10001 with a read-only root filesystem: only /tmp and /models need to be writable.
# Nothing writes into node_modules at run time (the prebuilt binary is loaded as is, `build: 'never'`).

ARG NODE_IMAGE=node:20-bookworm-slim

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

# ---- runtime ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    NODE_LLAMA_CPP_POSTINSTALL=skip \
    NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
# Prebuilt llama.cpp binaries: keep the CPU one for this architecture. The CUDA and Vulkan ones add ~600 MB
# and need drivers this image does not have; keep them only for a GPU image built with
# --build-arg KEEP_GPU_BINARIES=true (on a base image with the GPU runtime). node_modules drops from
# ~780 MB to ~170 MB on x64.
ARG KEEP_GPU_BINARIES=false
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --omit=dev --no-audit --no-fund \
 && arch="$(node -p process.arch)" \
 && for dir in node_modules/@node-llama-cpp/*; do \
      name="$(basename "$dir")"; \
      case "$name" in \
        "linux-$arch") ;; \
        *-cuda*|*-vulkan*) [ "$KEEP_GPU_BINARIES" = "true" ] || rm -rf "$dir" ;; \
        *) rm -rf "$dir" ;; \
      esac; \
    done \
 && ls node_modules/@node-llama-cpp/ \
 && npm cache clean --force \
 && rm -rf /root/.npm /tmp/*
COPY --from=build /app/build ./build

# Non-root user with a fixed numeric id, so `runAsNonRoot` can verify it and volume ownership is predictable.
# HOME=/tmp: the only writable place besides the model cache under a read-only root filesystem.
RUN groupadd --gid 10001 app \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin app \
 && mkdir -p /models \
 && chown 10001:10001 /models
# UV_THREADPOOL_SIZE / MALLOC_ARENA_MAX: service/contract.ts serverRuntimeEnv explains both (decode speed, RSS).
ENV HOME=/tmp \
    UV_THREADPOOL_SIZE=1 \
    MALLOC_ARENA_MAX=2 \
    HOST=0.0.0.0 \
    MODEL_CACHE_DIR=/models
VOLUME /models
USER 10001:10001
EXPOSE 8080
# Node runs as PID 1: both entry points install their own SIGTERM handlers (drain / keep the .partial).
CMD ["node", "build/service/main.js"]
