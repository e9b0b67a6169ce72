/**
 * Shows the first-sync hang the sync harness catches, and the layout that removes it:
 *
 *   npx tsx test/sync/break-demo.ts [application name | all]
 *
 * For every Application whose manifests mount a PVC: the old wave layout (the PVC one wave before the
 * Deployment that mounts it) on a cluster whose storage classes bind on first consumer. Argo CD applies
 * the PVC, waits for it to be Healthy before the next wave, the PVC stays Pending because no pod uses it,
 * and the Deployment that would use it is never applied: the sync runs forever (argoproj/argo-cd#12840).
 * Then the same cluster with the PVC in its Deployment's wave, which syncs.
 *
 * Exit code 0 when every hang was reproduced and every fixed layout synced, 1 otherwise, 2 on an error.
 */
import { firstSync, hasClaims, oldLayoutHang } from './scenarios.js';
import { withBindingMode } from './sim.js';
import { findApplications, resolveTarget } from './source.js';
import { formatSyncResult } from './timeline.js';

function main(): number {
  const which = process.argv[2] ?? 'all';
  const apps = findApplications().filter((a) => which === 'all' || a.name === which);
  if (apps.length === 0)
    throw new Error(
      `no Application named ${which} in argocd/ (have: ${findApplications()
        .map((a) => a.name)
        .join(', ')})`,
    );
  let missed = 0;
  for (const app of apps) {
    const target = resolveTarget(app);
    if (!hasClaims(target)) {
      process.stdout.write(`\n${app.name}: mounts no PersistentVolumeClaim, nothing to break\n`);
      continue;
    }
    process.stdout.write(`\n================ ${app.name}: PVC one wave before its Deployment, WaitForFirstConsumer ================\n`);
    const hang = oldLayoutHang(target);
    process.stdout.write(`${formatSyncResult(hang, { notes: true })}\n`);
    const reproduced = hang.checks.every((c) => c.ok);
    process.stdout.write(reproduced ? `=> the sync hangs, as it should: detected\n` : `!! the hang was NOT reproduced\n`);
    if (!reproduced) missed++;
    process.stdout.write(`\n================ ${app.name}: the same cluster, PVC in its Deployment's wave ================\n`);
    const fixed = firstSync(target, {
      layout: 'safe',
      profile: withBindingMode(target.profile, 'WaitForFirstConsumer'),
      title: "first sync, PVC in its Deployment's wave, every class WaitForFirstConsumer",
    });
    process.stdout.write(`${formatSyncResult(fixed, { notes: false })}\n`);
    const synced = fixed.checks.every((c) => c.ok);
    process.stdout.write(synced ? `=> syncs\n` : `!! the fixed layout did not sync\n`);
    if (!synced) missed++;
  }
  return missed;
}

try {
  process.exit(main() > 0 ? 1 : 0);
} catch (err) {
  process.stderr.write(`break-demo: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
}
