/**
 * Shows that the conformance scenarios can fail, and what a failure looks like: takes a committed
 * Deployment, breaks it in memory, runs the scenario that should catch it and prints the timeline.
 *
 *   npx tsx test/conformance/break-demo.ts [liveness-path|startup-window|all] [dist/staging/chat.yaml]
 *
 * - liveness-path: the liveness probe pointed at /v1/chat/completions (a GET on a POST-only inference
 *   route): every liveness probe fails, the kubelet restarts a healthy, busy server after
 *   failureThreshold periods. Caught by "every sequence busy" (and statically by "wiring").
 * - startup-window: startupProbe.failureThreshold 1, a 5 s window (the chart sizes 60 s) against a
 *   model load of 36 s (60 % of the sized window, scaled): the kubelet kills the pod before it ever
 *   loads. Caught by "slow model load".
 *
 * Exit code 0 when every break was detected (the scenario failed), 1 when one slipped through.
 */
import type { IContainer } from 'kubernetes-models/v1/Container';
import { cloneDeployment, findDeployments, type DeploymentFile } from './deployment.js';
import { createFixture, failedChecks, formatResult, type Fixture, type ScenarioResult } from './harness.js';
import { busyThenRollout, slowLoad, wiring } from './scenarios.js';
import { TIME_SCALE } from './timescale.js';

type Demo = 'liveness-path' | 'startup-window';

function serverOf(d: DeploymentFile): IContainer {
  const c = d.deployment.spec?.template.spec?.containers[0];
  if (!c) throw new Error(`${d.file}: no container`);
  return c;
}

async function livenessPath(original: DeploymentFile, fx: Fixture): Promise<ScenarioResult[]> {
  const d = cloneDeployment(original);
  const probe = serverOf(d).livenessProbe;
  if (!probe?.httpGet) throw new Error('no httpGet liveness probe to break');
  probe.httpGet.path = '/v1/chat/completions';
  d.label = `${original.label} [BROKEN: livenessProbe.httpGet.path=/v1/chat/completions]`;
  // Long enough for failureThreshold failures, so the kubelet acts on them.
  const periods = (probe.failureThreshold ?? 3) + 1;
  const { busy } = await busyThenRollout(d, fx, { busy: { periods } });
  return [wiring(d), busy];
}

async function startupWindow(original: DeploymentFile, fx: Fixture): Promise<ScenarioResult[]> {
  const d = cloneDeployment(original);
  const probe = serverOf(d).startupProbe;
  if (!probe) throw new Error('no startup probe to break');
  const sizedWindow = (probe.periodSeconds ?? 10) * (probe.failureThreshold ?? 3);
  probe.failureThreshold = 1;
  d.label = `${original.label} [BROKEN: startupProbe.failureThreshold=1, window ${probe.periodSeconds ?? 10}s instead of ${sizedWindow}s]`;
  // The load stays what the real model needs: 60 % of the window the chart sized.
  const downloadMs = 0.6 * sizedWindow * 1000 * fx.scale;
  return [await slowLoad(d, fx, { downloadMs })];
}

const demos: Record<Demo, (d: DeploymentFile, fx: Fixture) => Promise<ScenarioResult[]>> = {
  'liveness-path': livenessPath,
  'startup-window': startupWindow,
};

async function main(): Promise<number> {
  const which = process.argv[2] ?? 'all';
  const file = process.argv[3] ?? 'dist/staging/chat.yaml';
  const target = findDeployments().find((d) => d.file === file);
  if (!target) throw new Error(`no Deployment in ${file}`);
  const selected = which === 'all' ? (Object.keys(demos) as Demo[]) : [which as Demo];
  for (const s of selected) if (!(s in demos)) throw new Error(`unknown demo ${s}; use ${Object.keys(demos).join(', ')} or all`);
  const fx = await createFixture();
  let missed = 0;
  try {
    process.stdout.write(`break demo on ${file}, time scale ${TIME_SCALE}\n`);
    for (const s of selected) {
      process.stdout.write(`\n================ ${s} ================\n`);
      let caught = false;
      for (const r of await demos[s](target, fx)) {
        const failed = failedChecks(r);
        caught ||= failed.length > 0;
        process.stdout.write(`${formatResult(r, { notes: false })}\n`);
        process.stdout.write(
          failed.length > 0
            ? `=> scenario "${r.scenario}" FAILS, as it should (${failed.length} failed check(s))\n\n`
            : `=> scenario "${r.scenario}" passed\n\n`,
        );
      }
      if (!caught) {
        missed++;
        process.stdout.write(`!! the break "${s}" was NOT detected\n`);
      }
    }
  } finally {
    await fx.close();
  }
  return missed;
}

main().then(
  (missed) => process.exit(missed > 0 ? 1 : 0),
  (err: unknown) => {
    process.stderr.write(`break-demo: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(2);
  },
);
