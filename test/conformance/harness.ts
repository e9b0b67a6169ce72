/**
 * The conformance harness: a Deployment from dist/ + the test model -> a locally running pod under
 * the kubelet simulation (kubelet.ts), plus the check list and report every scenario returns.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, open, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { envVars } from '../../service/contract.js';
import { parseSplitName } from '../../service/model/split-name.js';
import { ensureTestModel } from '../../tools/test-model/make-test-model.js';
import { adaptContainer, type LocalContainer, type ModelSubstitute } from './adapt.js';
import { envValue, resolvePod, type DeploymentFile, type ResolvedContainer, type ResolvedPod } from './deployment.js';
import { Kubelet } from './kubelet.js';
import { ModelServer } from './model-server.js';
import { processStartSeconds } from '../../charts/sizing/probes.js';
import { startupAllowanceMs, TIME_SCALE } from './timescale.js';
import { Timeline } from './timeline.js';

// ---------------------------------------------------------------------------------------------
// Fixture: the test model and scratch space
// ---------------------------------------------------------------------------------------------

export interface Fixture {
  /** The random-weight qwen2 test model (real tokenizer, real inference, gibberish text). */
  modelPath: string;
  modelSha256: string;
  modelBytes: number;
  /** A copy cut to 60 % of its length: GGUF magic intact, tensors missing. */
  truncatedPath: string;
  truncatedSha256: string;
  tmpRoot: string;
  scale: number;
  /** A new scratch directory under tmpRoot. */
  tempDir(prefix: string): Promise<string>;
  close(): Promise<void>;
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) h.update(chunk);
  return h.digest('hex');
}

export async function createFixture(scale: number = TIME_SCALE, opts: { modelPath?: string } = {}): Promise<Fixture> {
  // Trained for 32768 tokens like the Qwen2.5 models the manifests name: the service refuses a CONTEXT_SIZE
  // beyond the trained context, and the GPU manifests ask for 8192. Embedding Deployments pass the BERT model.
  const modelPath = opts.modelPath ?? (await ensureTestModel({ shape: 'tiny-32k' }));
  const tmpRoot = await mkdtemp(path.join(os.tmpdir(), 'conformance-'));
  const modelBytes = (await stat(modelPath)).size;
  const truncatedPath = path.join(tmpRoot, 'truncated.gguf');
  await copyFile(modelPath, truncatedPath);
  const fh = await open(truncatedPath, 'r+');
  await fh.truncate(Math.floor(modelBytes * 0.6));
  await fh.close();
  let n = 0;
  return {
    modelPath,
    modelSha256: await sha256File(modelPath),
    modelBytes,
    truncatedPath,
    truncatedSha256: await sha256File(truncatedPath),
    tmpRoot,
    scale,
    async tempDir(prefix: string) {
      const dir = path.join(tmpRoot, `${prefix}-${++n}`);
      await mkdir(dir, { recursive: true });
      return dir;
    },
    close: () => rm(tmpRoot, { recursive: true, force: true }),
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Where the manifest's MODEL is served on the local model server: an `hf:<user>/<repo>/<file>` reference
 * maps to Hugging Face's own URL layout `/<user>/<repo>/resolve/main/<file>`, an http(s) URL keeps its
 * path. The file name stays the manifest's, so the model cache looks exactly as in the pod.
 */
export function servedPath(model: string): string {
  const hf = /^hf:\/*([^/]+)\/([^/]+)\/(.+?)(?:#(.+))?$/i.exec(model.trim());
  if (hf) return `/${hf[1]}/${hf[2]}/resolve/${hf[4] ?? 'main'}/${hf[3]}`;
  if (/^https?:/i.test(model)) return new URL(model).pathname;
  return `/models/${path.basename(model)}`;
}

// ---------------------------------------------------------------------------------------------
// Pods
// ---------------------------------------------------------------------------------------------

export interface PodOptions {
  /**
   * 'http' (default): MODEL becomes the model server URL for the manifest's file, in every container,
   * with one fresh cache dir shared by the init container and the server (as the pod's volume is).
   * 'local': MODEL becomes a local file path (`localModel`, default the test model).
   */
  model?: 'http' | 'local';
  localModel?: string;
  /** MODEL_SHA256 for every container; default the test model's; null removes it. */
  sha256?: string | null;
  /** Throttle of the served model (bytes/s). */
  bytesPerSecond?: number;
  /** Cut the first response after this many bytes. */
  cutAfterBytes?: number;
  skipInit?: boolean;
  maxRestarts?: number;
  /** Env overrides for the serving container (break demos). */
  override?: Record<string, string>;
  /** Unscaled extra startup delay; default startupAllowanceMs(processStartSeconds) (see timescale.ts). */
  startupAllowanceMs?: number;
  /**
   * Serve a split model instead ('http' mode): these part files, beside each other under the manifest's
   * folder; MODEL names the first part and MODEL_SHA256 lists every part's hash.
   */
  splitParts?: readonly { file: string; sha256: string }[];
}

export interface PodUnderTest {
  pod: ResolvedPod;
  server: ResolvedContainer;
  kubelet: Kubelet;
  timeline: Timeline;
  local: Map<string, LocalContainer>;
  cacheDir: string;
  /** The local stand-in for Hugging Face ('http' mode). */
  modelServer?: ModelServer;
  modelUrlPath?: string;
  /** Manifest values the scenarios size their load with. */
  parallel: number;
  maxCompletionLength: number;
  contextSize: number;
  /** API_KEY the serving container got (a stand-in when the manifest takes it from a Secret). */
  apiKey?: string;
  /** Kills what still runs and stops the model server. */
  close(): Promise<void>;
}

export async function createPod(d: DeploymentFile, fx: Fixture, title: string, o: PodOptions = {}): Promise<PodUnderTest> {
  const pod = resolvePod(d);
  const server = pod.containers[0];
  if (!server || pod.containers.length !== 1) throw new Error(`${d.file}: expected exactly one container, found ${pod.containers.length}`);
  const timeline = new Timeline(`${d.label} (${d.file}) — ${title}`);
  const cacheDir = await fx.tempDir('cache');
  const home = await fx.tempDir('home');
  const manifestModel = envValue(server, envVars.model) ?? '';
  let model: ModelSubstitute;
  let modelUrlPath: string | undefined;
  const sha = o.sha256 === undefined ? fx.modelSha256 : o.sha256;
  let modelServer: ModelServer | undefined;
  if ((o.model ?? 'http') === 'http') {
    modelServer = await new ModelServer(() => timeline.now()).start();
    modelServer.onEnd = (r) => {
      const mb = (r.bytesSent / 1e6).toFixed(1);
      const secs = r.endedAt === undefined ? '?' : ((r.endedAt - r.at) / 1000).toFixed(2);
      timeline.add(
        'server',
        `${r.method} ${r.path}${r.range ? ` (${r.range})` : ''} -> ${r.status}, ${mb} MB in ${secs}s${r.cut ? ', CUT by the server' : ''}`,
      );
    };
    modelUrlPath = servedPath(manifestModel);
    const throttle = {
      ...(o.bytesPerSecond === undefined ? {} : { bytesPerSecond: o.bytesPerSecond }),
      ...(o.cutAfterBytes === undefined ? {} : { cutAfterBytes: o.cutAfterBytes }),
    };
    if (o.splitParts && o.splitParts.length > 0) {
      const dir = path.posix.dirname(modelUrlPath);
      const urls = o.splitParts.map((part) => modelServer!.serve(path.posix.join(dir, path.basename(part.file)), { file: part.file, ...throttle }));
      modelUrlPath = path.posix.join(dir, path.basename(o.splitParts[0]!.file));
      model = { model: urls[0]!, sha256: o.sha256 === null ? null : o.splitParts.map((part) => part.sha256).join(','), cacheDir };
    } else {
      // The single-file test model stands in for a split manifest model under the split's base name: served under
      // the part name, the service would look for the other parts (and one sha256 would not cover them).
      const split = parseSplitName(path.posix.basename(modelUrlPath));
      if (split) modelUrlPath = path.posix.join(path.posix.dirname(modelUrlPath), `${split.prefix}.gguf`);
      const url = modelServer.serve(modelUrlPath, { file: fx.modelPath, ...throttle });
      model = { model: url, sha256: sha, cacheDir };
    }
  } else {
    model = { model: o.localModel ?? fx.modelPath, sha256: sha, cacheDir };
  }
  const local = new Map<string, LocalContainer>();
  local.set(server.name, adaptContainer(server, { model, port: await freePort(), scale: fx.scale, home, ...(o.override ? { override: o.override } : {}) }));
  for (const c of pod.initContainers) local.set(c.name, adaptContainer(c, { model, scale: fx.scale, home }));
  const sp = server.startupProbe;
  const windowSeconds = sp ? sp.initialDelaySeconds + sp.periodSeconds * sp.failureThreshold : 0;
  const allowance = o.startupAllowanceMs ?? startupAllowanceMs(windowSeconds, processStartSeconds, fx.scale);
  if (allowance > 0 && sp) {
    timeline.note(
      `startup failures in the first ${(allowance / 1000).toFixed(2)}s are not counted: the first ${Math.min(windowSeconds, processStartSeconds)}s of the ${windowSeconds}s startup window are process start (charts/sizing/probes.ts processStartSeconds), machine time, not scaled`,
    );
  }
  const kubelet = new Kubelet({
    pod,
    timeline,
    scale: fx.scale,
    local,
    startupAllowanceMs: allowance,
    ...(o.skipInit ? { skipInit: true } : {}),
    ...(o.maxRestarts === undefined ? {} : { maxRestarts: o.maxRestarts }),
  });
  const intEnv = (name: string, fallback: number): number => {
    const v = envValue(server, name);
    return v !== undefined && /^\d+$/.test(v) ? Number(v) : fallback;
  };
  return {
    pod,
    server,
    kubelet,
    timeline,
    local,
    cacheDir,
    ...(modelServer === undefined ? {} : { modelServer }),
    ...(modelUrlPath === undefined ? {} : { modelUrlPath }),
    parallel: intEnv(envVars.parallel, 2),
    maxCompletionLength: intEnv(envVars.maxCompletionLength, 2048),
    contextSize: intEnv(envVars.contextSize, 4096),
    ...(local.get(server.name)?.env[envVars.apiKey] ? { apiKey: local.get(server.name)?.env[envVars.apiKey] as string } : {}),
    async close() {
      await kubelet.dispose();
      await modelServer?.close();
    },
  };
}

/** The startup probe's window in harness ms: allowance + (initialDelaySeconds + periodSeconds × failureThreshold) scaled. */
export function startupWindowMs(k: Kubelet, c: ResolvedContainer): number {
  const p = c.startupProbe;
  if (!p) return k.ms(30);
  return k.startupAllowanceMs + k.ms(p.initialDelaySeconds + p.periodSeconds * p.failureThreshold);
}

// ---------------------------------------------------------------------------------------------
// Checks and results
// ---------------------------------------------------------------------------------------------

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** 'must' fails the scenario; 'finding' is reported (timeline and summary) but does not fail it. */
  severity: 'must' | 'finding';
}

export interface ScenarioResult {
  scenario: string;
  deployment: string;
  timeline: Timeline;
  checks: Check[];
  /** Extra numbers for the report (timings, sizes). */
  facts: Record<string, string | number | boolean>;
}

export class Checks {
  readonly list: Check[] = [];
  must(name: string, ok: boolean, detail: string): boolean {
    this.list.push({ name, ok, detail, severity: 'must' });
    return ok;
  }
  finding(name: string, ok: boolean, detail: string): boolean {
    this.list.push({ name, ok, detail, severity: 'finding' });
    return ok;
  }
}

export function failedChecks(r: ScenarioResult): Check[] {
  return r.checks.filter((c) => !c.ok && c.severity === 'must');
}

/** Timeline, then the checks (✓ passed, ✗ failed, ! finding), then facts. */
export function formatResult(r: ScenarioResult, opts: { notes?: boolean } = {}): string {
  const checks = r.checks.map((c) => `  ${c.ok ? '✓' : c.severity === 'must' ? '✗' : '!'} ${c.name}: ${c.detail}`);
  const facts = Object.entries(r.facts).map(([k, v]) => `${k}=${String(v)}`);
  return [r.timeline.format(opts), '── checks', ...checks, ...(facts.length ? [`── facts: ${facts.join(', ')}`] : [])].join('\n');
}

export const fmtS = (ms: number | undefined): string => (ms === undefined ? '—' : `${(ms / 1000).toFixed(2)}s`);
