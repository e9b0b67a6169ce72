/**
 * A real Kubernetes control plane for one test file: etcd, kube-apiserver, kube-controller-manager and
 * kube-scheduler from tools/control-plane (built by its build.sh), on 127.0.0.1 with free ports and a
 * temporary directory, torn down by `stop()`. The logs stay on disk when a test failed.
 *
 * The API server runs its default admission plugins (k8s.io/kubernetes pkg/kubeapiserver/options/plugins.go:
 * every plugin not in `DefaultOffAdmissionPlugins`) with PodSecurity, ResourceQuota, LimitRanger and
 * ValidatingAdmissionPolicy named explicitly, so a change of defaults cannot drop them; a service-account key
 * pair; and one static token in `system:masters` that the tests and the two controllers use.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { repoRoot } from '../support/manifests.js';

/** Admission plugins turned on explicitly (all four are on by default in v1.37; see the file comment). */
export const admissionPlugins = ['PodSecurity', 'ResourceQuota', 'LimitRanger', 'ValidatingAdmissionPolicy'] as const;

/** Where the built binaries are, or why there are none. */
export type ControlPlaneBinaries = { readonly binDir: string } | { readonly missing: string };

/**
 * The bin directory tools/control-plane/build.sh maps the current module versions to. Building is .ci/run's
 * job (a cold build takes tens of minutes): here only an existing build is used.
 */
export function findControlPlaneBinaries(): ControlPlaneBinaries {
  const script = join(repoRoot, 'tools/control-plane/build.sh');
  if (spawnSync('go', ['version'], { stdio: 'ignore' }).status !== 0) {
    return { missing: 'Go is not installed (Go 1.26+ builds the control plane: tools/control-plane/README.md)' };
  }
  const printed = spawnSync(script, ['--print-dir'], { encoding: 'utf8' });
  if (printed.status !== 0) return { missing: `the control plane is not built: run tools/control-plane/build.sh (once; a cold build takes tens of minutes)` };
  return { binDir: printed.stdout.trim() };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** GET a URL on loopback; resolves with the status and body, or undefined while nothing answers. */
function probe(url: string, token?: string): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const u = new URL(url);
    const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: 'GET',
        rejectUnauthorized: false,
        headers: token ? { authorization: `Bearer ${token}` } : {},
        timeout: 5_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

interface Component {
  readonly name: string;
  readonly process: ChildProcess;
  readonly logFile: string;
  exited?: { code: number | null; signal: NodeJS.Signals | null };
}

export interface ControlPlane {
  /** A kubeconfig for the API server with the tests' token (TLS not verified: the serving cert is self-signed). */
  readonly kubeConfig: KubeConfig;
  /** https://127.0.0.1:<port> */
  readonly server: string;
  readonly token: string;
  /** Temporary directory holding etcd's data, the keys and one log file per component. */
  readonly dir: string;
  /** Stops every component (reverse start order); deletes `dir` unless `keepLogs`, then says where the logs are. */
  stop(keepLogs: boolean): Promise<void>;
}

export interface StartOptions {
  readonly binDir: string;
  /** Longest wait for each component to answer. Default 180 s: a cold start on two busy cores. */
  readonly readyTimeoutMs?: number;
}

/** Starts etcd, kube-apiserver, kube-controller-manager and kube-scheduler; resolves once the API server is ready. */
export async function startControlPlane(options: StartOptions): Promise<ControlPlane> {
  const { binDir } = options;
  const readyTimeoutMs = options.readyTimeoutMs ?? 180_000;
  for (const b of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) {
    if (!existsSync(join(binDir, b))) throw new Error(`${join(binDir, b)} is missing: run tools/control-plane/build.sh`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'control-plane-'));
  const components: Component[] = [];

  const stop = async (keepLogs: boolean): Promise<void> => {
    for (const c of [...components].reverse()) {
      if (c.exited) continue;
      const exited = new Promise<void>((resolve) => c.process.once('exit', () => resolve()));
      c.process.kill('SIGTERM');
      const killTimer = setTimeout(() => c.process.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killTimer);
    }
    if (keepLogs) console.error(`control plane logs kept in ${dir} (${components.map((c) => c.logFile.slice(dir.length + 1)).join(', ')})`);
    else rmSync(dir, { recursive: true, force: true });
  };

  const launch = (name: string, args: string[]): Component => {
    const logFile = join(dir, `${name}.log`);
    const fd = openSync(logFile, 'a');
    const child = spawn(join(binDir, name), args, { stdio: ['ignore', fd, fd], cwd: dir });
    closeSync(fd);
    const component: Component = { name, process: child, logFile };
    child.once('exit', (code, signal) => (component.exited = { code, signal }));
    components.push(component);
    return component;
  };

  const waitFor = async (component: Component, what: string, ready: () => Promise<boolean>): Promise<void> => {
    const deadline = Date.now() + readyTimeoutMs;
    while (Date.now() < deadline) {
      if (component.exited) {
        throw new Error(
          `${component.name} exited (${component.exited.code ?? component.exited.signal}) before ${what}; last log lines:\n${tail(component.logFile)}`,
        );
      }
      if (await ready()) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`${component.name}: no ${what} within ${readyTimeoutMs / 1000} s; last log lines:\n${tail(component.logFile)}`);
  };

  try {
    const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];

    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const etcd = launch('etcd', [
      '--name=test',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=test=http://127.0.0.1:${etcdPeer}`,
      // Throw-away data: no fsync keeps etcd off the shared disk's critical path.
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
    await waitFor(etcd, 'health', async () => (await probe(`${etcdUrl}/health`))?.body.includes('"health":"true"') ?? false);

    // The service-account key pair: the API server signs and verifies tokens, the token controller signs too.
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    const token = randomBytes(24).toString('hex');
    // token,user,uid,"groups" (k8s.io/apiserver pkg/authentication/token/tokenfile).
    writeFileSync(join(dir, 'tokens.csv'), `${token},gguf-on-k8s-tests,gguf-on-k8s-tests,"system:masters"\n`);

    const server = `https://127.0.0.1:${apiPort}`;
    const apiserver = launch('kube-apiserver', [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${join(dir, 'apiserver-certs')}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      `--enable-admission-plugins=${admissionPlugins.join(',')}`,
      // The endpoint reconciler refuses a loopback advertise address; nothing here reaches the API server
      // through the `kubernetes` Service anyway.
      '--endpoint-reconciler-type=none',
      '--profiling=false',
      '--v=1',
    ]);
    await waitFor(apiserver, 'readyz', async () => (await probe(`${server}/readyz`, token))?.status === 200);

    const kubeconfigPath = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfigPath,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'test', cluster: { server, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'test', user: { token } }],
        contexts: [{ name: 'test', context: { cluster: 'test', user: 'test' } }],
        'current-context': 'test',
      }),
    );
    // Secure port 0: neither controller serves HTTPS, so neither needs delegated authentication.
    launch('kube-controller-manager', [
      `--kubeconfig=${kubeconfigPath}`,
      '--leader-elect=false',
      '--secure-port=0',
      `--service-account-private-key-file=${join(dir, 'sa.key')}`,
      '--use-service-account-credentials=false',
      '--v=1',
    ]);
    const controllerManager = components.at(-1)!;
    launch('kube-scheduler', [`--kubeconfig=${kubeconfigPath}`, '--leader-elect=false', '--secure-port=0', '--v=1']);

    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(kubeconfigPath);
    // The controller manager is working once its service-account controller made kube-system's `default`
    // ServiceAccount, which pods there need to pass the ServiceAccount admission plugin.
    const core = kubeConfig.makeApiClient(CoreV1Api);
    await waitFor(controllerManager, 'ServiceAccount kube-system/default', () =>
      core.readNamespacedServiceAccount({ name: 'default', namespace: 'kube-system' }).then(
        () => true,
        () => false,
      ),
    );
    return { kubeConfig, server, token, dir, stop };
  } catch (err) {
    await stop(true);
    throw err;
  }
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
