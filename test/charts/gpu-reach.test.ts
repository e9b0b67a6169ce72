import { describe, expect, it } from 'vitest';
import { poolNodeCount } from '../../charts/clusters/pools.js';
import { environments } from '../../charts/environments/index.js';
import { fleet } from '../../charts/environments/fleet.js';
import type { Environment, ServiceDeclaration } from '../../charts/environments/types.js';
import { RuleViolationError } from '../../charts/rules/engine.js';
import { printSummary } from '../../charts/summary.js';
import { environmentGpuReach } from '../../charts/sizing/gpu-reach.js';
import { synthesizeAll } from '../../charts/synth.js';

const output = synthesizeAll(environments);
const summary: string[] = [];
printSummary(output, (l) => summary.push(l));

describe('GPU reach in the synth summary', () => {
  const gpuServices = output.builds.flatMap((b) => b.services.filter((s) => s.service.plan.gpuCount > 0).map((s) => ({ build: b, plan: s.service.plan })));

  it('is exercised by at least one GPU service', () => {
    expect(gpuServices.length).toBeGreaterThan(0);
  });

  for (const { build, plan } of gpuServices)
    it(`${build.environment.name}/${plan.name}: states how far it can scale, and its declared count fits (synth passed)`, () => {
      const reach = environmentGpuReach(
        build.environment,
        build.services.map((s) => s.service.plan),
      ).find((r) => r.service === plan.name)!;
      expect(reach.declaredPods).toBeLessThanOrEqual(reach.reachablePods);
      expect(summary).toContain(`gpu reach ${plan.name}: ${reach.text}`);
      expect(reach.text).toMatch(
        new RegExp(
          `^${plan.gpuCount} GPU\\(s\\) per pod on .*: (replicas|autoscaling\\.maxReplicas) ${reach.declaredPods} fits; at most ${reach.reachablePods}`,
        ),
      );
    });
});

/** The fleet's GPU pool at its largest, and a single-GPU service of the fleet that could run several pods. */
const gpuPool = fleet.cluster.nodePools.find((p) => p.gpus !== undefined)!;
const poolGpus = poolNodeCount(gpuPool) * gpuPool.gpus!.count;
const [scaled] = Object.entries(fleet.services).find(([, s]) => s.gpu?.count === 1)!;
/** GPUs the fleet's other GPU services hold at their largest (none of them autoscales or surges on a GPU). */
const otherGpus = Object.entries(fleet.services)
  .filter(([n, s]) => n !== scaled && s.gpu !== undefined)
  .reduce((sum, [, s]) => sum + s.gpu!.count * (s.autoscaling?.maxReplicas ?? s.replicas ?? 1), 0);
const bound = poolGpus - otherGpus;

/**
 * The fleet with a GPU quota of the whole GPU pool and room for more pods, and `scaled` on a shared EFS cache so it
 * may run several pods, autoscaled on its queue up to `max`.
 */
function fleetWithScalingGpuService(max: number): Environment {
  const svc: ServiceDeclaration = {
    ...fleet.services[scaled]!,
    modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'efs-sc', accessMode: 'ReadWriteMany' },
    autoscaling: { minReplicas: 1, maxReplicas: max, signal: 'queue' },
  };
  return {
    ...fleet,
    services: { ...fleet.services, [scaled]: svc },
    quota: { ...fleet.quota!, cpu: 400, memoryGiB: 512, gpus: poolGpus, pods: 128 },
  };
}

function refusal(e: Environment): RuleViolationError {
  try {
    synthesizeAll([e]);
  } catch (err) {
    if (err instanceof RuleViolationError) return err;
    throw err;
  }
  throw new Error('synth passed');
}

describe('a GPU service whose autoscaler maximum does not fit', () => {
  it('leaves room to test: the GPU pool has GPUs beyond the other services', () => {
    expect(bound).toBeGreaterThanOrEqual(2);
  });

  it('is refused, and the refusal offers the bound that fits', () => {
    const err = refusal(fleetWithScalingGpuService(bound + 1));
    // The pool's GPUs less the other GPU services' leave `bound` single-GPU pods.
    expect(err.message).toContain(`gpu reach fleet/${scaled}: 1 GPU(s) per pod on ${gpuPool.name} `);
    expect(err.message).toContain(`autoscaling.maxReplicas ${bound + 1} does not fit: set autoscaling.maxReplicas <= ${bound}`);
  });

  it('synthesizes at the offered bound, and its GPU pods roll one at a time without a surge pod', () => {
    const out = synthesizeAll([fleetWithScalingGpuService(bound)]);
    const lines: string[] = [];
    printSummary(out, (l) => lines.push(l));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^gpu reach ${scaled}: .*autoscaling\\.maxReplicas ${bound} fits; at most ${bound}$`)));
    const deployment = out.builds[0]!.services.find((s) => s.service.plan.name === scaled)!
      .toJson()
      .find((o: { kind: string }) => o.kind === 'Deployment');
    expect(deployment.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } });
  });
});

describe('GPU services that can run several pods roll one at a time without a surge pod (issue 23, day 2)', () => {
  for (const build of output.builds)
    for (const chart of build.services) {
      const plan = chart.service.plan;
      const most = plan.props.autoscaling?.maxReplicas ?? plan.replicas;
      if (plan.gpuCount === 0 || most < 2) continue;
      it(`${build.environment.name}/${plan.name}`, () => {
        const deployment = chart.toJson().find((o: { kind: string }) => o.kind === 'Deployment');
        expect(deployment.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } });
      });
    }
  it('holds for every GPU service of the fleet given several pods', () => {
    for (const name of Object.keys(fleet.services).filter((n) => fleet.services[n]!.gpu !== undefined)) {
      const svc: ServiceDeclaration = {
        ...fleet.services[name]!,
        modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'efs-sc', accessMode: 'ReadWriteMany' },
        replicas: 2,
      };
      const out = synthesizeAll([{ ...fleet, quota: undefined, services: { [name]: svc } }]);
      const deployment = out.builds[0]!.services[0]!.toJson().find((o: { kind: string }) => o.kind === 'Deployment');
      expect(deployment.spec.strategy, name).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } });
    }
  });
});
