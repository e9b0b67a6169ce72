/**
 * Change sequences on every Application that deploys an environment (test/sync/sequences.ts).
 * SYNC_VERBOSE=1 prints each timeline.
 */
import { describe, expect, it } from 'vitest';
import { validateUpdate } from './cluster.js';
import type { Environment } from '../../charts/environments/types.js';
import { modelBumpSubject, runSequence, sequencesFor } from './sequences.js';
import { findApplications, resolveTarget } from './source.js';
import { formatSyncResult } from './timeline.js';

// The environments' own Applications: the sequences edit their model services. Companions' Applications (labelled
// `companion`) go through the scenarios of sync.test.ts.
const targets = findApplications()
  .filter((a) => a.raw.metadata.labels?.companion === undefined)
  .map(resolveTarget)
  .filter((t) => t.environment !== undefined);

describe.each(targets.map((t) => [t.app.name, t] as const))('Application %s', (_name, target) => {
  const sequences = sequencesFor(target.environment!);
  it('has the sequences every environment must pass', () => {
    expect(sequences.map((s) => s.name)).toEqual(
      expect.arrayContaining([
        // A model bump (and the rollback runbook built on it) wherever a service's model has a catalogue neighbour.
        ...(modelBumpSubject(target.environment as Environment)
          ? ['model bump and revert', 'rollback runbook: pin the environment to the last good commit']
          : []),
        'image bump and revert',
        'context-size change',
        'replica or autoscaler change',
        'service removed and added back',
        'environment removed',
        'promotion from main to the tracked branch',
      ]),
    );
  });
  it.each(sequences.map((s) => [s.name, s] as const))('%s', (_n, seq) => {
    const r = runSequence(resolveTarget(target.app), seq);
    const text = formatSyncResult(r);
    if (process.env.SYNC_VERBOSE) process.stdout.write(`${text}\n`);
    expect(r.checks.length).toBeGreaterThan(0);
    expect(
      r.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`),
      `${r.application} — ${r.scenario}\n${text.slice(-6000)}`,
    ).toEqual([]);
  });
});

describe('the API server refuses what kubernetes refuses in an update (validateUpdate)', () => {
  const profile = targets[0]!.profile;
  const bound = (storage: string, cls = 'gp3') => ({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: 'c' },
    spec: { storageClassName: cls, accessModes: ['ReadWriteOnce'], resources: { requests: { storage } } },
    status: { phase: 'Bound', capacity: { storage: '6Gi' } },
  });
  it('a claim below status.capacity, a new class, a growth without allowVolumeExpansion; a Deployment selector; a clusterIP', () => {
    expect(validateUpdate(bound('6Gi'), bound('3Gi'), profile)).toMatch(/can not be less than status.capacity/);
    expect(validateUpdate(bound('6Gi'), bound('6Gi', 'efs-sc'), profile)).toMatch(/immutable/);
    expect(validateUpdate(bound('6Gi'), bound('8Gi'), profile)).toMatch(/must support resize/);
    expect(
      validateUpdate(bound('6Gi'), bound('8Gi'), { ...profile, storageClasses: profile.storageClasses.map((c) => ({ ...c, allowVolumeExpansion: true })) }),
    ).toBeUndefined();
    expect(validateUpdate(bound('6Gi'), bound('6Gi'), profile)).toBeUndefined();
    const dep = (app: string) => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { selector: { matchLabels: { app } } } });
    expect(validateUpdate(dep('a'), dep('b'), profile)).toMatch(/selector/);
    const svc = (ip: string) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { clusterIP: ip } });
    expect(validateUpdate(svc('10.0.0.1'), svc('10.0.0.2'), profile)).toMatch(/clusterIP/);
  });

  it('negative control: a service removal that does not declare the claim it drops fails the data check', () => {
    const target = targets.find((t) => sequencesFor(t.environment!).some((s) => s.name === 'service removed and added back'))!;
    const seq = sequencesFor(target.environment!).find((s) => s.name === 'service removed and added back')!;
    const undeclared = { ...seq, commits: seq.commits.map((c) => ({ ...c, drops: [] })) };
    const r = runSequence(resolveTarget(target.app), undeclared);
    expect(r.checks.some((c) => !c.ok && /keeps its files/.test(c.name))).toBe(true);
  });
});
