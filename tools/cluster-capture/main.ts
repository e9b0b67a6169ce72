/**
 * `npm run cluster:capture -- --context NAME --out charts/clusters/captured/NAME.ts`
 * `npm run cluster:capture -- --from DIR --out charts/clusters/captured/NAME.ts` (air-gapped: DIR holds
 *   version.json from `kubectl version -o json` and resources.json from
 *   `kubectl get nodes,storageclasses,csidrivers,customresourcedefinitions,ingressclasses,resourcequotas -A -o json`,
 *   and optionally addons.json: a List of the DaemonSets, PodSecurityPolicies, MetalLB IPAddressPools, AKO
 *   AviInfraSettings and kube-vip's `kubevip` ConfigMap the cluster has (charts/clusters/capture.ts `addonKinds`))
 * Either form takes `--pool-bounds NAME=MIN:MAX,...` for autoscaled pools: their bounds live in the cloud's
 *   node group (`aws eks describe-nodegroup --query nodegroup.scalingConfig`), which kubectl cannot see.
 * Writes a typed ClusterFacts file (charts/clusters/facts.ts) through a temporary file and a rename,
 * so a failed capture never leaves a half-written profile. Any failure: exit 1 with one line.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CaptureError,
  factsFromKubectl,
  factsIdentifier,
  kubectlAddonArgs,
  kubectlGetArgs,
  kubectlKedaHttpAddOnArgs,
  kubectlKubeVipConfigMapArgs,
  onpremLoadBalancerSignatures,
  kubectlVersionArgs,
  parsePoolBounds,
  renderFactsFile,
  servesKedaHttpAddOn,
  type PoolBounds,
} from '../../charts/clusters/capture.js';

const usage = 'usage: npm run cluster:capture -- (--context NAME | --from DIR) --out charts/clusters/captured/NAME.ts [--pool-bounds POOL=MIN:MAX,...]';

function parseArgs(argv: readonly string[]): { context?: string; from?: string; out: string; poolBounds: PoolBounds } {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (!['--context', '--from', '--out', '--pool-bounds'].includes(flag)) throw new CaptureError(`unknown argument "${flag}". ${usage}`);
    const value = argv[i + 1];
    if (value === undefined || value.startsWith('--')) throw new CaptureError(`${flag} needs a value. ${usage}`);
    out[flag.slice(2)] = value;
    i++;
  }
  if (!out.out) throw new CaptureError(`--out is required. ${usage}`);
  if (!out.out.endsWith('.ts')) throw new CaptureError(`--out ${out.out}: the profile is a TypeScript file; name it NAME.ts`);
  if ((out.context === undefined) === (out.from === undefined)) throw new CaptureError(`give exactly one of --context and --from. ${usage}`);
  return {
    ...(out.context ? { context: out.context } : {}),
    ...(out.from ? { from: out.from } : {}),
    out: out.out,
    poolBounds: parsePoolBounds(out['pool-bounds'] ?? ''),
  };
}

function readJson(file: string): unknown {
  if (!existsSync(file)) throw new CaptureError(`${file}: not found. Fix: write it with kubectl (${usage})`);
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CaptureError(`${file}: not JSON (${(err as Error).message}). Fix: write it with kubectl's -o json, unmodified`);
  }
}

/** The add-ons list of a live cluster: `kubectlAddonArgs`, plus kube-vip's pool ConfigMap when a kube-vip DaemonSet serves Services. */
function kubectlAddons(context: string, version: unknown, list: unknown): { addons: unknown; addonsFrom: string } {
  const serverVersion = (version as { serverVersion?: { gitVersion?: string } }).serverVersion?.gitVersion ?? '';
  const items = ((list as { items?: unknown[] }).items ?? []) as Array<{ kind?: string; spec?: { group?: string; names?: { kind?: string } } }>;
  const customResourceTypes = items
    .filter((i) => i.kind === 'CustomResourceDefinition')
    .map((c) => ({ group: String(c.spec?.group), kind: String(c.spec?.names?.kind) }));
  const args = kubectlAddonArgs({ kubernetesVersion: serverVersion, customResourceTypes });
  const addons = kubectl(context, args) as { kind: string; items: unknown[] };
  const kubeVip = onpremLoadBalancerSignatures.find((s) => s.kind === 'kube-vip')!.daemonSet!;
  let from = `kubectl --context ${context} ${args.join(' ')}`;
  if (addons.items.some((i) => (i as { kind?: string }).kind === 'DaemonSet' && kubeVip(i))) {
    const configMap = kubectl(context, kubectlKubeVipConfigMapArgs, { allowEmpty: true });
    if (configMap !== undefined) addons.items.push(configMap);
    from += ` and kubectl --context ${context} ${kubectlKubeVipConfigMapArgs.join(' ')}`;
  }
  if (servesKedaHttpAddOn({ customResourceTypes })) {
    const services = kubectl(context, kubectlKedaHttpAddOnArgs) as { items?: unknown[] };
    addons.items.push(...(services.items ?? []));
    from += ` and kubectl --context ${context} ${kubectlKedaHttpAddOnArgs.join(' ')}`;
  }
  return { addons, addonsFrom: from };
}

function kubectl(context: string, args: readonly string[], options: { allowEmpty?: boolean } = {}): unknown {
  const full = ['--context', context, ...args];
  const command = `kubectl ${full.join(' ')}`;
  const r = spawnSync('kubectl', full, { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  if (r.error)
    throw new CaptureError(
      `${command}: ${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'kubectl is not on PATH' : r.error.message}. Fix: install kubectl, or capture elsewhere and use --from DIR`,
    );
  if (r.status !== 0) {
    const line =
      (r.stderr || r.stdout)
        .trim()
        .split('\n')
        .find((l) => l.trim() !== '') ?? `exit ${r.status}`;
    throw new CaptureError(`${command}: ${line}. Fix: check the context exists (kubectl config get-contexts) and that its user may list these kinds`);
  }
  if (options.allowEmpty && r.stdout.trim() === '') return undefined;
  try {
    return JSON.parse(r.stdout);
  } catch (err) {
    throw new CaptureError(`${command}: output is not JSON (${(err as Error).message}). Fix: run it by hand and check what it prints`);
  }
}

/** Capture and write; returns the written file's text. `now` is injectable so a test can pin it. */
export function capture(argv: readonly string[], now = new Date()): { out: string; text: string } {
  const args = parseArgs(argv);
  const capturedAt = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  let facts;
  if (args.from) {
    const versionFrom = resolve(args.from, 'version.json');
    const listFrom = resolve(args.from, 'resources.json');
    const version = readJson(versionFrom);
    const list = readJson(listFrom);
    // The add-ons list is optional: a capture without it leaves address pools and PodSecurityPolicies unknown.
    const addonsFrom = resolve(args.from, 'addons.json');
    const addons = existsSync(addonsFrom) ? { addons: readJson(addonsFrom), addonsFrom: relative(process.cwd(), addonsFrom) } : {};
    // The KEDA HTTP add-on's interceptor Service (kubectlKedaHttpAddOnArgs), a separate List joined to the add-ons.
    const kedaFrom = resolve(args.from, 'keda-http-add-on.json');
    if (addons.addons !== undefined && existsSync(kedaFrom)) {
      const services = readJson(kedaFrom) as { items?: unknown };
      if (!Array.isArray(services.items))
        throw new CaptureError(
          `${relative(process.cwd(), kedaFrom)}: expected a kubectl List (kind: List, items: [...]). Fix: write it with kubectl ${kubectlKedaHttpAddOnArgs.join(' ')}`,
        );
      (addons.addons as { items: unknown[] }).items.push(...(services.items as unknown[]));
      addons.addonsFrom += ` and ${relative(process.cwd(), kedaFrom)}`;
    }
    facts = factsFromKubectl({
      ...addons,
      version,
      versionFrom: relative(process.cwd(), versionFrom),
      list,
      listFrom: relative(process.cwd(), listFrom),
      capturedFrom: `files in ${args.from}`,
      capturedAt,
      poolBounds: args.poolBounds,
    });
  } else {
    const context = args.context!;
    const version = kubectl(context, kubectlVersionArgs);
    const list = kubectl(context, kubectlGetArgs);
    facts = factsFromKubectl({
      ...kubectlAddons(context, version, list),
      version,
      versionFrom: `kubectl --context ${context} ${kubectlVersionArgs.join(' ')}`,
      list,
      listFrom: `kubectl --context ${context} ${kubectlGetArgs.join(' ')}`,
      capturedFrom: `kube context ${context}`,
      capturedAt,
      poolBounds: args.poolBounds,
    });
  }
  const out = resolve(args.out);
  const factsModule = fileURLToPath(new URL('../../charts/clusters/facts.js', import.meta.url));
  let importPath = relative(dirname(out), factsModule).replace(/\\/g, '/');
  if (!importPath.startsWith('.')) importPath = `./${importPath}`;
  const command = `npm run cluster:capture -- ${argv.join(' ')}`;
  const text = renderFactsFile(facts, factsIdentifier(basename(out)), importPath, command);
  if (!existsSync(dirname(out)))
    throw new CaptureError(`--out ${args.out}: directory ${dirname(args.out)} does not exist. Fix: create it or choose another path`);
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, out);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new CaptureError(`--out ${args.out}: cannot write (${(err as Error).message}). Fix: choose a writable path`);
  }
  return { out: args.out, text };
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain && (process.argv.includes('--help') || process.argv.includes('-h'))) {
  process.stdout.write(
    [
      usage,
      '',
      'Writes a typed cluster profile (ClusterFacts) from kubectl output: node pools, storage classes, CSI',
      'drivers, CRDs, ingress classes and quotas, and the on-prem load balancers (MetalLB, kube-vip, AKO) with',
      'their address pools and the PodSecurityPolicies. --context reads a live cluster through kubectl; --from DIR',
      'reads version.json, resources.json and optionally addons.json written elsewhere (air-gapped). --pool-bounds records the',
      'autoscaling bounds kubectl cannot see. Nothing is written unless the whole capture succeeds.',
      '',
    ].join('\n'),
  );
} else if (isMain) {
  try {
    const { out, text } = capture(process.argv.slice(2));
    const summary = /Kubernetes .*/.exec(text)?.[0] ?? '';
    process.stdout.write(`wrote ${out}: ${summary}\n`);
  } catch (err) {
    process.stderr.write(`cluster:capture: ${err instanceof CaptureError ? err.message : (err as Error).message}\n`);
    process.exitCode = 1;
  }
}
