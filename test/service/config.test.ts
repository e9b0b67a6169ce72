import { copyFile, mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, ConfigSchema, loadConfig } from '../../service/config.js';
import { defaultMemoryGuardHeadroomMiB, defaultModel, defaultModelCacheDir, defaultPort, envVars, retiredEnvVars } from '../../service/contract.js';
import { ensureTestModel } from '../../tools/test-model/make-test-model.js';
import { freePort, spawnMain } from './helpers.js';

/** The one fatal log line (stdout and stderr arrive on separate pipes, so it need not be the last line). */
function fatalLine(lines: string[]): { level?: string; msg?: string } {
  const fatal = lines
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level?: string; msg?: string })
    .filter((l) => l.level === 'fatal');
  expect(fatal).toHaveLength(1);
  return fatal[0] ?? {};
}

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig({});
    expect(c).toEqual({
      model: defaultModel,
      modelCacheDir: defaultModelCacheDir,
      host: '0.0.0.0',
      port: defaultPort,
      contextSize: 4096,
      parallel: 2,
      maxQueue: 8,
      maxCompletionLength: 2048,
      requestTimeoutMs: 300_000,
      shutdownGraceMs: 20_000,
      sseKeepAliveMs: 15_000,
      gpuLayers: 0,
      logLevel: 'info',
      memoryGuardHeadroomMiB: defaultMemoryGuardHeadroomMiB,
    });
  });

  it('documents every field with its default and reason', () => {
    for (const [key, schema] of Object.entries(ConfigSchema.properties)) {
      const description = (schema as { description?: string }).description ?? '';
      expect(description.length, key).toBeGreaterThan(40);
    }
  });

  it('parses every variable', () => {
    const sha = 'A'.repeat(64);
    const c = loadConfig({
      [envVars.model]: '/models/x.gguf',
      [envVars.modelSha256]: sha,
      [envVars.modelCacheDir]: '/cache',
      [envVars.host]: '127.0.0.1',
      [envVars.port]: '9000',
      [envVars.threads]: '3',
      [envVars.contextSize]: '2048',
      [envVars.parallel]: '4',
      [envVars.maxQueue]: '0',
      [envVars.maxCompletionLength]: '512',
      [envVars.requestTimeoutMs]: '1000',
      [envVars.shutdownGraceMs]: '0',
      [envVars.sseKeepAliveMs]: '500',
      [envVars.gpuLayers]: 'max',
      [envVars.apiKey]: 'secret',
      [envVars.logLevel]: 'DEBUG',
    });
    expect(c).toMatchObject({
      model: '/models/x.gguf',
      modelSha256: 'a'.repeat(64),
      modelCacheDir: '/cache',
      host: '127.0.0.1',
      port: 9000,
      threads: 3,
      contextSize: 2048,
      parallel: 4,
      maxQueue: 0,
      maxCompletionLength: 512,
      requestTimeoutMs: 1000,
      shutdownGraceMs: 0,
      sseKeepAliveMs: 500,
      gpuLayers: 'max',
      apiKey: 'secret',
      logLevel: 'debug',
    });
    expect(loadConfig({ GPU_LAYERS: 'auto' }).gpuLayers).toBe('auto');
    expect(loadConfig({ GPU_LAYERS: '33' }).gpuLayers).toBe(33);
  });

  it('treats empty variables as unset (API_KEY excepted: see test/service/secrets.test.ts)', () => {
    const c = loadConfig({ PORT: '', THREADS: '', MODEL_SHA256: '  ' });
    expect(c.port).toBe(defaultPort);
    expect(c).not.toHaveProperty('threads');
    expect(c).not.toHaveProperty('apiKey');
    expect(c).not.toHaveProperty('modelSha256');
  });

  it('names the variable, the value and what is allowed, in one line', () => {
    const err = configError({ PORT: 'abc' });
    expect(err.message).toBe('Invalid configuration: PORT="abc" is invalid: expected an integer from 1 to 65535');
    expect(err.message).not.toContain('\n');
  });

  it('refuses a retired variable name, naming the one that replaced it, in one line', () => {
    for (const [retired, now] of Object.entries(retiredEnvVars)) {
      const err = configError({ [retired]: '256' });
      expect(err.message).toBe(`Invalid configuration: ${retired} is no longer read: it was renamed ${now}; set ${now} instead`);
    }
    expect(retiredEnvVars.MAX_TOKENS_LIMIT).toBe(envVars.maxCompletionLength);
    expect(loadConfig({ [envVars.maxCompletionLength]: '256' }).maxCompletionLength).toBe(256);
  });

  it('collects every error at once', () => {
    const err = configError({
      PORT: '70000',
      THREADS: '-1',
      PARALLEL: '0',
      CONTEXT_SIZE: '4k',
      GPU_LAYERS: 'some',
      LOG_LEVEL: 'verbose',
      MODEL_SHA256: 'abc',
      SSE_KEEPALIVE_MS: '1.5',
    });
    expect(err.issues).toHaveLength(8);
    for (const name of [
      'PORT="70000"',
      'THREADS="-1"',
      'PARALLEL="0"',
      'CONTEXT_SIZE="4k"',
      'GPU_LAYERS="some"',
      'LOG_LEVEL="verbose"',
      'MODEL_SHA256="abc"',
      'SSE_KEEPALIVE_MS="1.5"',
    ]) {
      expect(err.message).toContain(name);
    }
    expect(err.message).toContain('expected one of fatal, error, warn, info, debug, trace, silent');
    expect(err.message).toContain('"auto" or "max"');
    expect(err.message).not.toContain('\n');
  });

  it('rejects floats, signs and garbage in integers', () => {
    for (const bad of ['1.0', '1e3', '0x10', ' 12a', '-5']) {
      expect(() => loadConfig({ MAX_QUEUE: bad }), bad).toThrow(ConfigError);
    }
  });
});

describe('process start-up failures', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'svc-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a config error prints one line naming the variable and exits 1', async () => {
    const child = spawnMain({ PORT: 'abc', PARALLEL: '0', MODEL: '/nonexistent.gguf' });
    const { code } = await child.exited;
    expect(code).toBe(1);
    const lines = child.lines.filter((l) => !l.includes('ExperimentalWarning'));
    expect(lines).toEqual([
      'Invalid configuration: PORT="abc" is invalid: expected an integer from 1 to 65535; PARALLEL="0" is invalid: expected an integer from 1 to 64',
    ]);
  });

  it('a file that is not a GGUF exits non-zero within seconds with a clear message', async () => {
    const file = path.join(dir, 'garbage.gguf');
    await writeFile(file, Buffer.alloc(1 << 20, 7));
    const child = spawnMain({ MODEL: file, PORT: String(await freePort()), HOST: '127.0.0.1', MODEL_CACHE_DIR: dir });
    const { code, atMs } = await child.exited;
    expect(code).toBe(1);
    expect(atMs).toBeLessThan(20_000);
    const last = fatalLine(child.lines);
    expect(last.level).toBe('fatal');
    expect(last.msg).toMatch(/GGUF/i);
    console.log(`[figures] non-GGUF model: exit ${code} after ${Math.round(atMs)} ms: ${last.msg}`);
  });

  it('a truncated GGUF fails to load: one clear error line, exit non-zero within seconds', async () => {
    const model = await ensureTestModel();
    const file = path.join(dir, 'truncated.gguf');
    await copyFile(model, file);
    const size = (await stat(file)).size;
    const fh = await open(file, 'r+');
    await fh.truncate(Math.floor(size / 2));
    await fh.close();
    const child = spawnMain({ MODEL: file, PORT: String(await freePort()), HOST: '127.0.0.1', MODEL_CACHE_DIR: dir, THREADS: '1' });
    const { code, atMs } = await child.exited;
    expect(code).not.toBe(0);
    expect(atMs).toBeLessThan(30_000);
    const last = fatalLine(child.lines);
    expect(last.level).toBe('fatal');
    expect(last.msg).toContain(file);
    expect(last.msg).toMatch(/truncated|corrupt|load/i);
    expect(last.msg).not.toContain('\n');
    console.log(`[figures] truncated model: exit ${code} after ${Math.round(atMs)} ms: ${last.msg}`);
  });
});
