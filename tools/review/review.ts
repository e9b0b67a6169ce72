/**
 * What a change does, in operational terms, from the synthesized output of two revisions: per environment and
 * service, the pods it restarts and how, the worst-case unavailability from the startup window, the bytes
 * downloaded again, the requests before and after against the cluster's capacity and the namespace's quota,
 * and the synth rules' outcome. Pure functions over manifests; tools/review/main.ts reads the revisions.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are read as plain JSON */
import { poolNodeCount } from '../../charts/clusters/pools.js';
import type { Environment } from '../../charts/environments/types.js';
import { cacheModelAnnotation } from '../../charts/constructs/model-cache.js';
import { parseQuantity } from '../../charts/lib/quantity.js';
import { modelCatalogue } from '../../charts/models/catalogue.js';
import { podRequests } from '../../charts/placement/index.js';
import { podStartAllowanceSeconds } from '../../charts/sizing/plan.js';
import { rolloutCost, type RolloutStrategy } from '../../charts/sizing/rollout.js';
import { formatGiB } from '../../charts/sizing/units.js';

/** One environment's synthesized objects at a revision: dist/<env>/ parsed. */
export type EnvObjects = readonly any[];

export interface ServiceChange {
  readonly service: string;
  readonly restart: string;
  readonly unavailability: string;
  readonly downloadBytes: number;
  readonly downloads: string;
}

export interface EnvironmentReview {
  readonly environment: string;
  readonly services: readonly ServiceChange[];
  readonly requests: { readonly before: Totals; readonly after: Totals };
  readonly capacity: Totals | undefined;
  readonly quota: Partial<Totals> | undefined;
  readonly rules: string;
}

export interface Totals {
  readonly cpu: number;
  readonly memoryBytes: number;
  readonly gpus: number;
  readonly storageBytes: number;
}

const byKind = (objects: EnvObjects, kind: string): any[] => objects.filter((o) => o?.kind === kind);

/** Pods a Deployment may run: the autoscaler's maximum, else its replicas. */
function maxPods(objects: EnvObjects, d: any): number {
  const name = d.metadata.name;
  const hpa = byKind(objects, 'HorizontalPodAutoscaler').find((h) => h.spec?.scaleTargetRef?.name === name);
  const so = byKind(objects, 'ScaledObject').find((s) => s.spec?.scaleTargetRef?.name === name);
  return hpa?.spec?.maxReplicas ?? so?.spec?.maxReplicaCount ?? d.spec?.replicas ?? 1;
}

/** Fewest pods serving: the autoscaler's minimum, else its replicas. */
function minPods(objects: EnvObjects, d: any): number {
  const name = d.metadata.name;
  const hpa = byKind(objects, 'HorizontalPodAutoscaler').find((h) => h.spec?.scaleTargetRef?.name === name);
  const so = byKind(objects, 'ScaledObject').find((s) => s.spec?.scaleTargetRef?.name === name);
  return hpa?.spec?.minReplicas ?? so?.spec?.minReplicaCount ?? d.spec?.replicas ?? 1;
}

export function totals(objects: EnvObjects): Totals {
  let cpu = 0;
  let memoryBytes = 0;
  let gpus = 0;
  for (const d of byKind(objects, 'Deployment')) {
    const r = podRequests(d.spec.template.spec);
    const n = maxPods(objects, d);
    cpu += (r.cpuMillis / 1000) * n;
    memoryBytes += r.memoryBytes * n;
    gpus += r.gpus * n;
  }
  const storageBytes = byKind(objects, 'PersistentVolumeClaim').reduce((a, c) => a + (parseQuantity(c.spec?.resources?.requests?.storage) ?? 0), 0);
  return { cpu, memoryBytes, gpus, storageBytes };
}

function strategyOf(d: any): RolloutStrategy {
  const s = d.spec?.strategy;
  if (s?.type === 'Recreate') return { type: 'Recreate' };
  return { type: 'RollingUpdate', maxSurge: Number(s?.rollingUpdate?.maxSurge ?? 1), maxUnavailable: Number(s?.rollingUpdate?.maxUnavailable ?? 0) };
}

/** Startup window of the serving container: initial delay + period x failure threshold of its startup probe. */
function startupWindow(d: any): number {
  const p = d.spec.template.spec.containers.find((c: any) => c.name === 'server')?.startupProbe ?? d.spec.template.spec.containers[0]?.startupProbe;
  return p ? Number(p.initialDelaySeconds ?? 0) + Number(p.periodSeconds ?? 10) * Number(p.failureThreshold ?? 3) : 0;
}

function modelBytes(claim: any): number {
  const id = claim?.metadata?.annotations?.[cacheModelAnnotation];
  return (id && modelCatalogue[id]?.fileBytes) || 0;
}

/**
 * The pods a change touches: the autoscaler's minimum, or, for a service that scales to zero when idle, the pods
 * running at the time (none when idle, up to its maximum under load).
 */
function podCount(objects: EnvObjects, d: any): string {
  const least = minPods(objects, d);
  return least > 0 ? `${least} pod(s)` : `0 pods when idle (scales to zero), up to ${maxPods(objects, d)} under load`;
}

/** What a new claim costs to fill: the model it caches, or nothing to download for a claim that caches none. */
function claimContent(claim: any, downloadBytes: number): string {
  return claim?.metadata?.annotations?.[cacheModelAnnotation] === undefined ? 'holds no model, nothing to download' : formatGiB(downloadBytes);
}

function claimOf(objects: EnvObjects, d: any): any {
  const names = (d.spec.template.spec.volumes ?? []).map((v: any) => v.persistentVolumeClaim?.claimName).filter(Boolean);
  return byKind(objects, 'PersistentVolumeClaim').find((c) => names.includes(c.metadata.name));
}

/** The review of one environment; `before` or `after` undefined: the environment is added or removed. */
export function reviewEnvironment(
  name: string,
  before: EnvObjects | undefined,
  after: EnvObjects | undefined,
  env: Environment | undefined,
  rules: string,
): EnvironmentReview {
  const b = before ?? [];
  const a = after ?? [];
  const names = [...new Set([...byKind(b, 'Deployment'), ...byKind(a, 'Deployment')].map((d) => d.metadata.name as string))].sort();
  const services: ServiceChange[] = [];
  for (const svc of names) {
    const old = byKind(b, 'Deployment').find((d) => d.metadata.name === svc);
    const neu = byKind(a, 'Deployment').find((d) => d.metadata.name === svc);
    const oldClaim = old ? claimOf(b, old) : undefined;
    const newClaim = neu ? claimOf(a, neu) : undefined;
    if (!neu) {
      const kept = oldClaim && String(oldClaim.metadata.annotations?.['argocd.argoproj.io/sync-options'] ?? '').includes('Delete=false') && after === undefined;
      services.push({
        service: svc,
        restart: `removed: its ${maxPods(b, old)} pod(s) stop`,
        unavailability: 'the service is gone',
        downloadBytes: 0,
        downloads: oldClaim
          ? kept
            ? `claim ${oldClaim.metadata.name} kept (Delete=false)`
            : `claim ${oldClaim.metadata.name} deleted: ${formatGiB(modelBytes(oldClaim))} to download again if it comes back`
          : 'none',
      });
      continue;
    }
    const newDownload = newClaim && !byKind(b, 'PersistentVolumeClaim').some((c) => c.metadata.name === newClaim.metadata.name) ? modelBytes(newClaim) : 0;
    const window = startupWindow(neu);
    const downloadSeconds = Math.max(0, Number(neu.spec.progressDeadlineSeconds ?? 0) - podStartAllowanceSeconds - window);
    const cost = rolloutCost({
      strategy: strategyOf(neu),
      pods: minPods(a, neu),
      terminationGracePeriodSeconds: Number(neu.spec.template.spec.terminationGracePeriodSeconds ?? 30),
      podStartSeconds: podStartAllowanceSeconds,
      startupWindowSeconds: window,
      downloadSeconds: newDownload > 0 ? downloadSeconds : 0,
    });
    if (!old) {
      services.push({
        service: svc,
        restart: `added: ${podCount(a, neu)} start`,
        unavailability: `Ready within ${cost.stepSeconds + (newDownload > 0 ? downloadSeconds : 0)}s at worst`,
        downloadBytes: newDownload,
        downloads: newClaim ? `new claim ${newClaim.metadata.name}: ${claimContent(newClaim, newDownload)}` : 'none',
      });
      continue;
    }
    const templateChanged = JSON.stringify(old.spec.template) !== JSON.stringify(neu.spec.template);
    const scaled = minPods(b, old) !== minPods(a, neu) || maxPods(b, old) !== maxPods(a, neu);
    const s = strategyOf(neu);
    const how =
      s.type === 'Recreate'
        ? 'Recreate: every pod stops, then the new ones start'
        : s.maxSurge === 0
          ? `rolling, ${s.maxUnavailable} at a time without a surge`
          : `rolling, ${s.maxSurge} surge pod at a time, none down`;
    const emptyDirBytes =
      templateChanged && !newClaim
        ? modelBytes({ metadata: { annotations: { [cacheModelAnnotation]: neu.metadata.labels?.['app.kubernetes.io/version'] } } }) * minPods(a, neu)
        : 0;
    const bytes = newDownload + emptyDirBytes;
    const downloads = [
      ...(newDownload > 0 ? [`new claim ${newClaim.metadata.name}: ${formatGiB(newDownload)}`] : []),
      ...(oldClaim && newClaim && oldClaim.metadata.name !== newClaim.metadata.name
        ? [`old claim ${oldClaim.metadata.name} pruned after the rollout is Healthy`]
        : []),
      ...(emptyDirBytes > 0 ? [`emptyDir cache: ${formatGiB(emptyDirBytes)} (every new pod downloads)`] : []),
    ];
    services.push({
      service: svc,
      restart: templateChanged
        ? `${podCount(a, neu)} restarted, ${how}`
        : scaled
          ? `scaled ${minPods(b, old)}-${maxPods(b, old)} -> ${minPods(a, neu)}-${maxPods(a, neu)} pods, no restart`
          : 'no change',
      unavailability: templateChanged ? cost.text : 'none',
      downloadBytes: bytes,
      downloads: downloads.join('; ') || 'none',
    });
  }
  const capacity = env
    ? env.cluster.nodePools.reduce(
        (acc, p) => ({
          cpu: acc.cpu + (poolNodeCount(p) * (p.allocatable.cpuMillis - (p.reservedPerNode?.cpuMillis ?? 0))) / 1000,
          memoryBytes: acc.memoryBytes + poolNodeCount(p) * (p.allocatable.memoryBytes - (p.reservedPerNode?.memoryBytes ?? 0)),
          gpus: acc.gpus + poolNodeCount(p) * (p.gpus?.count ?? 0),
          storageBytes: 0,
        }),
        { cpu: 0, memoryBytes: 0, gpus: 0, storageBytes: 0 },
      )
    : undefined;
  const rq = byKind(a.length > 0 ? a : b, 'ResourceQuota')[0]?.spec?.hard;
  const quota = rq
    ? {
        ...(rq['requests.cpu'] !== undefined ? { cpu: Number(parseQuantity(rq['requests.cpu'])) } : {}),
        ...(rq['requests.memory'] !== undefined ? { memoryBytes: Number(parseQuantity(rq['requests.memory'])) } : {}),
        ...(rq['requests.nvidia.com/gpu'] !== undefined ? { gpus: Number(parseQuantity(rq['requests.nvidia.com/gpu'])) } : {}),
        ...(rq['requests.storage'] !== undefined ? { storageBytes: Number(parseQuantity(rq['requests.storage'])) } : {}),
      }
    : undefined;
  return { environment: name, services, requests: { before: totals(b), after: totals(a) }, capacity, quota, rules };
}

const num = (n: number): string => String(Number(n.toFixed(2)));

/** Markdown for a pull-request comment. */
export function renderReview(reviews: readonly EnvironmentReview[], title: string): string {
  const lines = [`## ${title}`, ''];
  for (const r of reviews) {
    const changed = r.services.filter((s) => s.restart !== 'no change');
    lines.push(`### ${r.environment}`, '');
    if (changed.length === 0) lines.push('No service changes.', '');
    else {
      lines.push('| service | pods | worst-case unavailability | download again |', '| --- | --- | --- | --- |');
      for (const s of changed)
        lines.push(`| ${s.service} | ${s.restart} | ${s.unavailability} | ${s.downloadBytes > 0 ? `${formatGiB(s.downloadBytes)}: ` : ''}${s.downloads} |`);
      lines.push('');
    }
    const { before, after } = r.requests;
    const row = (what: string, f: (t: Partial<Totals>) => number | undefined, show: (n: number) => string): string => {
      const cap = r.capacity ? f(r.capacity) : undefined;
      const q = r.quota ? f(r.quota) : undefined;
      return `| ${what} | ${show(f(before) ?? 0)} | ${show(f(after) ?? 0)} | ${cap !== undefined && what !== 'cache storage' ? show(cap) : '—'} | ${q !== undefined ? show(q) : '—'} |`;
    };
    lines.push(
      '| requests at full scale | before | after | cluster capacity | namespace quota |',
      '| --- | --- | --- | --- | --- |',
      row('CPU', (t) => t.cpu, num),
      row('memory', (t) => t.memoryBytes, formatGiB),
      row('GPU', (t) => t.gpus, num),
      row(
        'cache storage',
        (t) => t.storageBytes,
        (n) => formatGiB(n),
      ),
      '',
      `Rules: ${r.rules}`,
      '',
    );
  }
  return lines.join('\n');
}
