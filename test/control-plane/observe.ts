/**
 * What the real controllers and scheduler made of applied Deployments: the pods the ReplicaSet controller created
 * (or the admission refusal it reports as the ReplicaFailure condition, pkg/controller/deployment/sync.go), and
 * where the scheduler put each pod or why it left it Pending (the PodScheduled condition it writes,
 * pkg/scheduler/schedule_one.go `handleSchedulingFailure`).
 */
import { AppsV1Api, CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';

export interface PodPlacement {
  readonly pod: string;
  /** The node the scheduler bound it to, if any. */
  readonly node?: string;
  /** The scheduler's message when it left the pod Pending (`0/3 nodes are available: ...`). */
  readonly unschedulable?: string;
}

export interface DeploymentOutcome {
  readonly deployment: string;
  /** The ReplicaFailure condition's message: the API server refused the ReplicaSet's pods. */
  readonly refused?: string;
  readonly pods: readonly PodPlacement[];
}

/** How long a refusal or an unschedulable pod must hold before it is a verdict (the controllers retry). */
export const stuckForMs = 8_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function placementOf(pod: V1Pod): PodPlacement | undefined {
  const name = pod.metadata!.name!;
  if (pod.spec?.nodeName) return { pod: name, node: pod.spec.nodeName };
  const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') return { pod: name, unschedulable: scheduled.message ?? '' };
  return undefined;
}

function selectorMatches(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/**
 * Waits until each Deployment in the namespace either has all its desired pods placed or left Pending by the
 * scheduler, or reports ReplicaFailure; returns what it found at that point (or at the timeout).
 */
export async function awaitDeployments(kubeConfig: KubeConfig, namespace: string, timeoutMs = 90_000): Promise<DeploymentOutcome[]> {
  const apps = kubeConfig.makeApiClient(AppsV1Api);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const deadline = Date.now() + timeoutMs;
  // A refusal or an unschedulable pod counts once it held for a while (see stuckForMs).
  const firstSeen = new Map<string, number>();
  for (;;) {
    const deployments = (await apps.listNamespacedDeployment({ namespace })).items;
    const pods = (await core.listNamespacedPod({ namespace })).items.filter((p) => !p.metadata?.deletionTimestamp);
    const outcomes = deployments.map((d): DeploymentOutcome & { settled: boolean } => {
      const name = d.metadata!.name!;
      const failure = d.status?.conditions?.find((c) => c.type === 'ReplicaFailure' && c.status === 'True');
      const own = pods.filter((p) => selectorMatches(d.spec!.selector.matchLabels ?? {}, p.metadata?.labels));
      const placements = own.map(placementOf);
      const desired = d.spec?.replicas ?? 1;
      const stuck = failure !== undefined || placements.some((p) => p?.unschedulable !== undefined);
      if (stuck) firstSeen.set(name, firstSeen.get(name) ?? Date.now());
      else firstSeen.delete(name);
      const held = stuck && Date.now() - firstSeen.get(name)! >= stuckForMs;
      const placedAll = own.length >= desired && placements.every((p) => p?.node !== undefined);
      const settled = held || placedAll;
      return {
        deployment: name,
        refused: failure?.message,
        pods: placements.map((p, i) => p ?? { pod: own[i]!.metadata!.name! }),
        settled,
      };
    });
    if (outcomes.every((o) => o.settled) || Date.now() > deadline) return outcomes.map(({ settled: _settled, ...o }) => o);
    await sleep(1_000);
  }
}

/** The events recorded for an object, oldest first, as `reason: message`. */
export async function eventsFor(kubeConfig: KubeConfig, namespace: string, kind: string, name: string): Promise<string[]> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const events = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.kind=${kind},involvedObject.name=${name}` });
  return events.items.map((e) => `${e.reason}: ${e.message}`);
}
