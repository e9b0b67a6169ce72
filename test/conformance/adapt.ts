/**
 * From a manifest container to a local process: the image command mapped to the TypeScript entry
 * point, and the container env with the few substitutions a laptop needs. Every substitution is
 * returned as a note for the timeline, so a reader sees exactly how the local run differs from the pod.
 */
import os from 'node:os';
import path from 'node:path';
import { defaultPort, envVars } from '../../service/contract.js';
import { repoRoot, type ResolvedContainer } from './deployment.js';
import { scaleMsValue } from './timescale.js';

/**
 * Image entry points -> local ones: the image runs `node build/service/X.js` (tsc output, see
 * Dockerfile); locally the same module runs from source as `node --import tsx service/X.ts`.
 * `node --import tsx` (not the `tsx` CLI) keeps one process, so SIGTERM reaches the service itself.
 */
export function mapCommand(command: readonly string[]): string[] {
  const [exe, script, ...rest] = command;
  if (exe !== 'node' || script === undefined) {
    throw new Error(`container command ${JSON.stringify(command)} is not "node <script>"; the harness cannot map it`);
  }
  const m = /^build\/(.+)\.js$/.exec(script);
  if (!m) throw new Error(`container script ${script} is not under build/ (the image's tsc output)`);
  return [process.execPath, '--import', 'tsx', path.join(repoRoot, `${m[1]}.ts`), ...rest];
}

/** What every container of the image gets from the Dockerfile (runtime stage ENV) besides the pod env. */
export function imageEnv(home: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    NODE_ENV: 'production',
    NODE_LLAMA_CPP_POSTINSTALL: 'skip',
    NODE_LLAMA_CPP_SKIP_DOWNLOAD: 'true',
    HOME: home,
    HOST: '0.0.0.0',
    MODEL_CACHE_DIR: '/models',
  };
}

export interface ModelSubstitute {
  /** New MODEL value: a local path or an http:// URL on the local model server. */
  model: string;
  /** New MODEL_SHA256 (the test model's), or null to remove it. */
  sha256: string | null;
  cacheDir: string;
}

export interface AdaptOptions {
  model: ModelSubstitute;
  /** Local port for the service (servers only). */
  port?: number;
  scale: number;
  home: string;
  /** THREADS is capped to this; default the machine's cores minus one (CONFORMANCE_MAX_THREADS overrides). */
  cpus?: number;
  /** Extra env overrides applied last (scenarios that break things on purpose). */
  override?: Record<string, string>;
}

export interface LocalContainer {
  name: string;
  argv: string[];
  env: Record<string, string>;
  /** Manifest port -> local port, for probes. */
  portMap: Map<number, number>;
  /** One line per substitution, for the timeline. */
  notes: string[];
}

const clip = (s: string): string => (s.length > 70 ? `${s.slice(0, 67)}...` : s);

export function adaptContainer(c: ResolvedContainer, o: AdaptOptions): LocalContainer {
  const notes: string[] = [];
  const env: Record<string, string> = imageEnv(o.home);
  for (const e of c.env) {
    env[e.name] = e.value;
    if (e.from) notes.push(`${c.name}: ${e.name}=${e.value} from ${e.from}`);
  }
  const set = (name: string, value: string | null, why: string): void => {
    const before = env[name];
    if (value === null) delete env[name];
    else env[name] = value;
    if (before !== value)
      notes.push(`${c.name}: ${name} ${before === undefined ? '(unset)' : clip(before)} -> ${value === null ? '(unset)' : clip(value)} (${why})`);
  };

  set(envVars.model, o.model.model, 'test model');
  set(envVars.modelSha256, o.model.sha256, 'test model checksum');
  set(envVars.modelCacheDir, o.model.cacheDir, 'temp dir');

  const portMap = new Map<number, number>();
  if (o.port !== undefined) {
    const manifestPort = Number(env[envVars.port] ?? defaultPort);
    // Probes that target the port the service listens on reach it; any other port maps nowhere.
    portMap.set(manifestPort, o.port);
    set(envVars.port, String(o.port), `free local port; probes on ${manifestPort} follow`);
  }

  // The pod's CPU request is the service's alone; here the same cores also run the harness (kubelet,
  // clients, model server). llama.cpp's threads synchronise with spinning barriers, so giving them every
  // core of a shared machine collapses throughput (measured on this 2-core machine under load: 6-12 tok/s
  // per stream with THREADS=2, 90-140 with THREADS=1). Cap: the machine's cores minus one.
  const envCap = Number(process.env.CONFORMANCE_MAX_THREADS);
  const cpus = o.cpus ?? (Number.isInteger(envCap) && envCap > 0 ? envCap : Math.max(1, os.availableParallelism() - 1));
  const threads = env[envVars.threads];
  if (threads !== undefined && /^\d+$/.test(threads) && Number(threads) > cpus) {
    set(envVars.threads, String(cpus), `capped to this machine's ${os.availableParallelism()} cores minus one for the harness`);
  }
  const gpu = env[envVars.gpuLayers];
  if (gpu !== undefined && gpu.trim() !== '0') {
    set(envVars.gpuLayers, '0', 'no GPU on this machine');
  }
  for (const name of [envVars.requestTimeoutMs, envVars.shutdownGraceMs, envVars.sseKeepAliveMs]) {
    const v = env[name];
    if (v !== undefined && /^\d+$/.test(v.trim())) {
      set(name, String(scaleMsValue(Number(v), o.scale)), `× time scale ${o.scale}`);
    }
  }
  for (const [k, v] of Object.entries(o.override ?? {})) set(k, v, 'scenario override');

  return { name: c.name, argv: mapCommand(c.command), env, portMap, notes };
}
