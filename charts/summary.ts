import type { SynthOutput } from './synth.js';
import { formatFinding } from './rules/engine.js';
import { formatGiB } from './sizing/units.js';
import { loadBalancerSummary } from './constructs/exposure.js';
import { describeCompanion } from './companions/describe.js';
import type { ScaleToZeroPlan } from './sizing/cold-start.js';
import { environmentGpuReach } from './sizing/gpu-reach.js';

/** A short table per environment so the synth log shows what each service will ask of the cluster. */
export function printSummary(output: SynthOutput, write: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): void {
  write(`wrote ${output.files.size} files`);
  for (const build of output.builds) {
    write('');
    write(`${build.environment.name} (namespace ${build.environment.namespace}, cluster ${build.environment.clusterName})`);
    const rows = build.services.map(({ service: { plan } }) => [
      plan.name,
      plan.props.autoscaling
        ? `${plan.props.autoscaling.minReplicas}-${plan.props.autoscaling.maxReplicas} (${plan.props.autoscaling.signal === 'queue' ? (plan.scaleToZero ? 'KEDA queue, idle to 0' : 'KEDA queue') : 'HPA cpu'})`
        : String(plan.replicas),
      `${plan.cpuCores}`,
      formatGiB(plan.memory.requestBytes),
      String(plan.gpuCount),
      `${plan.ephemeralStorageGiB} GiB`,
      plan.rollout.type === 'Recreate' ? 'Recreate' : `Rolling ${plan.rollout.maxSurge}/${plan.rollout.maxUnavailable}`,
      `${plan.startup.windowSeconds}s / ${plan.startup.expectedLoadSeconds}s`,
    ]);
    const header = ['service', 'replicas', 'cpu', 'memory', 'gpu', 'ephemeral', 'strategy (surge/unavail.)', 'startup window / expected load'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    const line = (cells: string[]): string =>
      cells
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd();
    write(line(header));
    for (const r of rows) write(line(r));
    // What a rollout of each service costs, worst case (charts/sizing/rollout.ts).
    for (const {
      service: { plan },
    } of build.services)
      write(`rollout ${plan.name}: ${plan.rolloutCost.text}`);
    for (const { service } of build.services)
      if (service.plan.exposure.kind === 'load-balancer')
        write(`load balancer ${service.plan.name}: ${loadBalancerSummary(build.environment.cluster.loadBalancer)}`);
    for (const c of build.companions) write(describeCompanion(c));
    // How far each GPU service can scale on this cluster (charts/sizing/gpu-reach.ts).
    for (const r of environmentGpuReach(
      build.environment,
      build.services.map((s) => s.service.plan),
    ))
      write(`gpu reach ${r.service}: ${r.text}`);
    // What the first caller after an idle spell waits (charts/sizing/cold-start.ts).
    for (const {
      service: { plan },
    } of build.services)
      if (plan.scaleToZero) write(`cold start ${plan.name}: ${coldStartText(plan.scaleToZero)}`);
    const env = build.environment.name;
    const notes = [...output.report.warnings, ...output.report.waived].filter((f) => f.environment === env);
    write(notes.length === 0 ? 'rules: all passed' : `rules: ${notes.length} note(s)`);
    for (const f of notes) write(`  ${formatFinding(f)}`);
  }
  if (output.unpublishedImages.length > 0) {
    write('');
    write(`images: ${output.unpublishedImages.length} not published yet`);
    for (const f of output.unpublishedImages) write(`  ${f.severity} [${f.ruleId}] ${f.message}. Fix: ${f.fix}`);
  }
}

/** One line on a service that scales to zero: when it goes, what the first caller waits, and what it sees past the hold (charts/constructs/scale-to-zero-failover.ts). */
export function coldStartText(p: ScaleToZeroPlan): string {
  return (
    `to zero pods after ${p.idleAfterSeconds}s idle; the first request is held ~${p.expectedWakeSeconds}s on a warm node (expected load), ` +
    `at most ${p.holdSeconds}s (pod start allowance, any download, startup window), then 503 with Retry-After ${p.retryAfterSeconds}s (the failover responder)`
  );
}
