/**
 * The CPU image (`--target runtime`), built and run without a Docker engine:
 *   1. the build context assembled from .dockerignore (build-context.ts, Docker's matching rules);
 *   2. the Dockerfile parsed (dockerfile-ast) and the runtime target's stages performed: COPY from the
 *      context and between stages, ENV/ARG substituted, every RUN line in a bubblewrap sandbox with npm's
 *      packages installed offline from the host npm cache (npm-cache.ts);
 *   3. the resulting /app run the way a synthesized Deployment runs it: one chat and one embedding
 *      Deployment from dist/ (picked by SERVICE_KIND), the init container's command, then the server's,
 *      with the containers' env, as uid/gid 10001, read-only root, only /tmp and /models writable; then a
 *      chat completion and an embedding through the `openai` client.
 * Outside CI the suite is skipped with one line when bubblewrap is missing; with CI=true it fails.
 */
import OpenAI from 'openai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerCommands, envVars, hubEnvVars } from '../../service/contract.js';
import { ensureBertTestModel } from '../../tools/test-model/bert.js';
import { ensureTestModel } from '../../tools/test-model/make-test-model.js';
import { HubServer } from '../support/hub-server.js';
import { committedManifests, repoRoot } from '../support/manifests.js';
import { assembleContext } from './build-context.js';
import { lastOf, parseDockerfile, stageEnv, stageNamed, StageBuilder, type BuiltStage } from './dockerfile.js';
import { linkNpmCache } from './npm-cache.js';
import { bubblewrapAvailable, bubblewrapPackage, runInSandbox, spawnInSandbox, type SandboxOptions } from './sandbox.js';

const target = 'runtime';
const available = bubblewrapAvailable();
const inCi = process.env.CI === 'true';
const missing = `bwrap not found: install Debian's ${bubblewrapPackage} (apt-get install -y ${bubblewrapPackage}) to build and run the image test`;
if (!available && !inCi) process.stderr.write(`test/image/image.test.ts skipped: ${missing}\n`);

/** The image's user (Dockerfile USER) and the pods' runAsUser/runAsGroup. */
const imageUser = { uid: 10001, gid: 10001 };
/** The image's PATH (the official Node image's default), for processes in the sandbox. */
const imagePath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { resourceFieldRef?: { resource: string; divisor?: string }; secretKeyRef?: { name: string; key: string } };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
}

function envValue(container: Container, name: string): string | undefined {
  return container.env?.find((e) => e.name === name)?.value;
}

/** Millicores of a CPU quantity ("1500m", "2"). */
function cpuMillis(quantity: string): number {
  return quantity.endsWith('m') ? Number(quantity.slice(0, -1)) : Number(quantity) * 1000;
}

/**
 * The env a container gets: literal values; resourceFieldRef as the kubelet resolves it (rounded up to the
 * divisor, pkg/api/v1/resource/helpers.go ExtractContainerResourceValue); secretKeyRef as a value the test
 * makes up (it plays the Secret).
 */
function containerEnv(container: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.resourceFieldRef) {
      const [kind, resource] = e.valueFrom.resourceFieldRef.resource.split('.') as ['requests' | 'limits', string];
      const quantity = container.resources?.[kind]?.[resource];
      if (resource !== 'cpu' || quantity === undefined)
        throw new Error(`${container.name}: env ${e.name} reads ${e.valueFrom.resourceFieldRef.resource}, which the test does not model`);
      const divisor = cpuMillis(e.valueFrom.resourceFieldRef.divisor ?? '1');
      env[e.name] = String(Math.ceil(cpuMillis(quantity) / divisor));
    } else if (e.valueFrom?.secretKeyRef) {
      env[e.name] = `image-test-${e.valueFrom.secretKeyRef.name}-${e.valueFrom.secretKeyRef.key}`;
    } else {
      throw new Error(`${container.name}: env ${e.name} has a valueFrom the test does not model`);
    }
  }
  return env;
}

/** The first Deployment (by file) of a service kind that the CPU image serves (no GPU, no -cuda image). */
function deploymentOfKind(kind: 'chat' | 'embedding'): { file: string; name: string; pod: PodSpec; server: Container; init: Container } {
  for (const doc of committedManifests()) {
    if (doc.object.kind !== 'Deployment') continue;
    const pod = doc.object.spec.template.spec as PodSpec;
    const server = pod.containers.find((c) => envValue(c, envVars.serviceKind) !== undefined);
    if (!server || envValue(server, envVars.serviceKind) !== kind) continue;
    if (server.resources?.limits?.['nvidia.com/gpu'] !== undefined) continue;
    const init = pod.initContainers?.find((c) => JSON.stringify(c.command) === JSON.stringify(containerCommands.fetchModel));
    if (!init) throw new Error(`${doc.file}: ${doc.object.metadata.name} has no init container running ${containerCommands.fetchModel.join(' ')}`);
    return { file: doc.file, name: doc.object.metadata.name, pod, server, init };
  }
  throw new Error(`no CPU Deployment with ${envVars.serviceKind}=${kind} in dist/`);
}

let work = '';
const hub = new HubServer();
let runtime: BuiltStage;
const dockerfile = parseDockerfile(join(repoRoot, 'Dockerfile'));
const started = performance.now();

describe.skipIf(!available && !inCi)('the runtime image, built and run without a Docker engine', () => {
  beforeAll(async () => {
    if (!available) throw new Error(missing);
    work = mkdtempSync(join(tmpdir(), 'image-'));
    const contextDir = join(work, 'context');
    assembleContext(repoRoot, contextDir);
    const builder = new StageBuilder({
      dockerfile,
      contextDir,
      workDir: join(work, 'stages'),
      // Users and /models live outside /app: asserted below instead (USER, VOLUME and the pod's mounts).
      skip: (stage, script) => stage.name === target && /\buseradd\b/.test(script),
      run: async (stage, script, env, appDir) => {
        // Each stage's /root (npm's cache) starts from the host cache: a RUN's `npm cache clean` empties
        // its own stage's copy only, as in a Docker build where every stage starts from its base image.
        const home = join(work, 'homes', stage.name);
        if (!existsSync(home)) {
          mkdirSync(home, { recursive: true });
          linkNpmCache(home);
        }
        const sandbox: SandboxOptions = {
          binds: [
            { source: appDir, target: '/app', writable: true },
            { source: home, target: '/root', writable: true },
          ],
          tmpfs: ['/tmp'],
          readOnlyRoot: false,
          cwd: '/app',
          env: new Map([
            ['PATH', imagePath],
            ['HOME', '/root'],
            ...env,
            // Packages from the cache instead of the network: the only difference from a networked build.
            ['npm_config_offline', 'true'],
            ['npm_config_update_notifier', 'false'],
          ]),
        };
        const runStarted = performance.now();
        const { code, output } = await runInSandbox(sandbox, ['/bin/sh', '-c', script], 600_000);
        process.stderr.write(`image build: ${stage.name}: RUN ${script.slice(0, 60)}: ${Math.round((performance.now() - runStarted) / 1000)} s\n`);
        if (code !== 0) throw new Error(`stage ${stage.name}: RUN ${script}\nexited ${code}\n${output}`);
      },
    });
    runtime = await builder.build(target);
    await hub.start();
  }, 1_200_000);

  afterAll(async () => {
    await hub.close();
    // Several GB of small files (two npm installs): removed by a detached `rm -rf` so the suite does not
    // wait minutes on a busy disk for its own cleanup.
    if (work) spawn('rm', ['-rf', work], { detached: true, stdio: 'ignore' }).unref();
    process.stderr.write(`test/image/image.test.ts: ${Math.round((performance.now() - started) / 1000)} s in all\n`);
  });

  it('lays out production dependencies only, with the CPU binary of this architecture alone', () => {
    const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.entries(lock.packages)
      .filter(([path, p]) => path.startsWith('node_modules/') && p.dev)
      .map(([path]) => path);
    const present = devOnly.filter((path) => spawnSync('test', ['-e', join(runtime.appDir, path)]).status === 0);
    expect(devOnly.length).toBeGreaterThan(0);
    expect(present).toEqual([]);
    expect(readdirSync(join(runtime.appDir, 'node_modules/@node-llama-cpp'))).toEqual([`linux-${process.arch}`]);
    for (const [, script] of Object.values(containerCommands)) {
      expect(spawnSync('test', ['-f', join(runtime.appDir, script)]).status, script).toBe(0);
    }
    // No sources, tests or tools in the image.
    expect(readdirSync(runtime.appDir).sort()).toEqual(['build', 'node_modules', 'package.json']);
    const du = spawnSync('du', ['-sb', join(runtime.appDir, 'node_modules')], { encoding: 'utf8' }).stdout.split('\t')[0];
    process.stderr.write(`runtime node_modules: ${du} bytes (du -sb)\n`);
  });

  it('declares the user, the writable paths and the entry point the manifests rely on', () => {
    const stage = stageNamed(dockerfile, target);
    expect(lastOf(stage, 'USER')?.getArgumentsContent()).toBe(`${imageUser.uid}:${imageUser.gid}`);
    expect(lastOf(stage, 'VOLUME')?.getArgumentsContent()).toBe('/models');
    expect(runtime.skippedRuns).toHaveLength(1);
    expect(runtime.skippedRuns[0]).toMatch(new RegExp(`useradd --uid ${imageUser.uid} --gid ${imageUser.gid}\\b`));
    expect(runtime.skippedRuns[0]).toMatch(/chown 10001:10001 \/models/);
    const cmd = lastOf(stage, 'CMD')?.getArgumentsContent();
    expect(JSON.parse(cmd ?? 'null')).toEqual([...containerCommands.serve]);
  });

  const imageEnv = (): Map<string, string> => new Map([['PATH', imagePath], ...stageEnv(dockerfile, target)]);

  function podSandbox(modelDir: string, env: Record<string, string>): SandboxOptions {
    return {
      binds: [
        { source: runtime.appDir, target: '/app' },
        { source: modelDir, target: env[envVars.modelCacheDir] ?? '/models', writable: true },
      ],
      tmpfs: ['/tmp'],
      user: imageUser,
      readOnlyRoot: true,
      cwd: '/app',
      env: new Map([...imageEnv(), ...Object.entries(env)]),
    };
  }

  it('keeps the root read-only and runs as 10001 (control for the sandbox itself)', async () => {
    const dir = mkdtempSync(join(work, 'models-'));
    const probe =
      `const fs=require('fs');const w=(p)=>{try{fs.writeFileSync(p,'x');return 'ok'}catch(e){return e.code}};` +
      `console.log(JSON.stringify({uid:process.getuid(),gid:process.getgid(),app:w('/app/x'),etc:w('/etc/x'),tmp:w('/tmp/x'),models:w('/models/x')}))`;
    const { code, output } = await runInSandbox(podSandbox(dir, { [envVars.modelCacheDir]: '/models' }), ['node', '-e', probe], 60_000);
    expect(code, output).toBe(0);
    expect(JSON.parse(output.trim())).toEqual({ uid: 10001, gid: 10001, app: 'EROFS', etc: 'EROFS', tmp: 'ok', models: 'ok' });
  });

  for (const kind of ['chat', 'embedding'] as const) {
    it(`runs ${kind === 'embedding' ? 'an' : 'a'} ${kind} Deployment's init container, then its server, and answers through the openai client`, async () => {
      const deployment = deploymentOfKind(kind);
      const serverEnv = containerEnv(deployment.server);
      const modelFile =
        kind === 'chat'
          ? await ensureTestModel({ shape: 'tiny' })
          : await ensureBertTestModel({ contextLength: Number(serverEnv[envVars.contextSize] ?? 512) });
      const served = await hub.add(modelFile);
      // The only substitutions: the model (the test's, from the local hub) and where the server listens.
      const model = {
        [envVars.model]: `hf:image-test/${kind}/${served.name}`,
        [envVars.modelSha256]: served.sha256,
        [hubEnvVars.endpoint]: hub.base,
      };
      const modelDir = mkdtempSync(join(work, `models-${kind}-`));

      const init = [...(deployment.init.command ?? []), ...(deployment.init.args ?? [])];
      const fetched = await runInSandbox(podSandbox(modelDir, { ...containerEnv(deployment.init), ...model }), init, 120_000);
      expect(fetched.code, fetched.output).toBe(0);
      expect(readdirSync(modelDir)).toContain(served.name);

      const port = 20_000 + Math.floor(Math.random() * 20_000);
      const env: Record<string, string> = {
        ...serverEnv,
        ...model,
        [envVars.host]: '127.0.0.1',
        [envVars.port]: String(port),
        // The pod's CPU request can exceed this machine; llama.cpp threads beyond the cores only slow it down.
        [envVars.threads]: String(Math.min(Number(serverEnv[envVars.threads] ?? 1), availableParallelism())),
      };
      const command = [...(deployment.server.command ?? []), ...(deployment.server.args ?? [])];
      const server: ChildProcess = spawnInSandbox(podSandbox(modelDir, env), command);
      let log = '';
      server.stdout?.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-20_000)));
      server.stderr?.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-20_000)));
      try {
        const base = `http://127.0.0.1:${port}`;
        const deadline = Date.now() + 180_000;
        for (;;) {
          if (server.exitCode !== null) throw new Error(`${deployment.file} ${deployment.name}: server exited ${server.exitCode}\n${log}`);
          const ready = await fetch(`${base}/health/ready`).then(
            (r) => r.status,
            () => 0,
          );
          if (ready === 200) break;
          if (Date.now() > deadline) throw new Error(`${deployment.file} ${deployment.name}: not ready in 180 s\n${log}`);
          await new Promise((r) => setTimeout(r, 250));
        }
        const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: env[envVars.apiKey] ?? 'unused', maxRetries: 0 });
        const modelId = (await client.models.list()).data[0]?.id ?? '';
        expect(modelId).not.toBe('');
        if (kind === 'chat') {
          const completion = await client.chat.completions.create({ model: modelId, messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4 });
          expect(completion.choices[0]?.message.role).toBe('assistant');
          expect(completion.usage?.completion_tokens).toBeGreaterThan(0);
        } else {
          const embedding = await client.embeddings.create({ model: modelId, input: 'hello image' });
          const vector = embedding.data[0]?.embedding ?? [];
          expect(vector.length).toBeGreaterThan(0);
          expect(vector.every((x) => Number.isFinite(x))).toBe(true);
        }
        process.stderr.write(`image test: ${basename(deployment.file)} ${deployment.name} (${kind}) answered\n`);
      } finally {
        server.kill('SIGKILL');
      }
    }, 300_000);
  }
});
