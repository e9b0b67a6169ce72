/**
 * Debian's bubblewrap (`bwrap`) as a stand-in for a container runtime: a new mount, PID, IPC and UTS
 * namespace (and user namespace for `uid`), the host's operating system directories bound read-only in
 * place of the base image's, the stage or image tree at /app, and nothing else of the host visible.
 * Flags per bwrap(1); the line was verified on these machines (see /work/shared/notes/api-facts.md).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import { dirname } from 'node:path';

/** The Debian package that ships bwrap, named in skip and failure messages. */
export const bubblewrapPackage = 'bubblewrap';

export function bubblewrapAvailable(): boolean {
  return spawnSync('bwrap', ['--version'], { encoding: 'utf8' }).status === 0;
}

export interface SandboxOptions {
  /** Host path -> sandbox path, read-only unless `writable`. */
  readonly binds: readonly { readonly source: string; readonly target: string; readonly writable?: boolean }[];
  /** Empty writable tmpfs mounts (e.g. /tmp, like the pod's emptyDir). */
  readonly tmpfs: readonly string[];
  /** Run as this uid/gid (a user namespace maps it); default: root, as a Dockerfile RUN does. */
  readonly user?: { readonly uid: number; readonly gid: number };
  /** Remount the sandbox root read-only after the mounts (a pod's readOnlyRootFilesystem). */
  readonly readOnlyRoot: boolean;
  /** Working directory inside the sandbox. */
  readonly cwd: string;
  /** The whole environment of the process (nothing is inherited). */
  readonly env: ReadonlyMap<string, string> | Readonly<Record<string, string>>;
}

/** The host directories that hold the operating system (binaries, libraries, /etc); symlinks kept as such. */
function hostSystemMounts(): string[] {
  const args: string[] = [];
  for (const name of ['usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32', 'etc']) {
    const path = `/${name}`;
    if (!existsSync(path)) continue;
    if (lstatSync(path).isSymbolicLink()) args.push('--symlink', readlinkSync(path), path);
    else args.push('--ro-bind', path, path);
  }
  // The Node.js running the tests stands in for the image's; bind its installation if it lives elsewhere.
  const nodePrefix = dirname(dirname(process.execPath));
  if (!['/usr', '/'].includes(nodePrefix) && !nodePrefix.startsWith('/usr/')) args.push('--ro-bind', nodePrefix, nodePrefix);
  return args;
}

export function sandboxArgs(opts: SandboxOptions, command: readonly string[]): string[] {
  const args = ['--unshare-all', '--share-net', '--die-with-parent', '--new-session', ...hostSystemMounts(), '--dev', '/dev', '--proc', '/proc'];
  for (const dir of opts.tmpfs) args.push('--tmpfs', dir);
  for (const b of opts.binds) args.push(b.writable ? '--bind' : '--ro-bind', b.source, b.target);
  if (opts.user) args.push('--uid', String(opts.user.uid), '--gid', String(opts.user.gid));
  if (opts.readOnlyRoot) args.push('--remount-ro', '/');
  args.push('--chdir', opts.cwd, '--clearenv');
  const env = opts.env instanceof Map ? [...opts.env] : Object.entries(opts.env);
  for (const [k, v] of env) args.push('--setenv', k, v);
  return [...args, '--', ...command];
}

export function spawnInSandbox(opts: SandboxOptions, command: readonly string[]): ChildProcess {
  return spawn('bwrap', sandboxArgs(opts, command), { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs to completion; resolves with the exit code and the combined output (last 64 KiB). */
export function runInSandbox(opts: SandboxOptions, command: readonly string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnInSandbox(opts, command);
    let output = '';
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-65_536);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}
