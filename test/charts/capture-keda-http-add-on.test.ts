/**
 * cluster:capture finds the KEDA HTTP add-on's namespace: where the HTTPScaledObject CRD is captured, the capture
 * fetches the interceptor proxy Service by name in every namespace, and the profile routes scaled-to-zero services
 * through the namespace it was found in (or checks a declared one against it).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kubectlKedaHttpAddOnArgs } from '../../charts/clusters/capture.js';
import type { ClusterFacts } from '../../charts/clusters/facts.js';
import { profileFromFacts } from '../../charts/clusters/from-facts.js';
import { kedaHttpAddOnServices } from '../../charts/constructs/scale-to-zero.js';
import { capture } from '../../tools/cluster-capture/main.js';
import { capturedFactsOf, factsOf, withStandInKubectl } from '../support/kubectl-capture.js';

const version = { serverVersion: { gitVersion: 'v1.31.2' } };
const node = {
  kind: 'Node',
  metadata: { name: 'n1', labels: { 'node.kubernetes.io/instance-type': 'm6i.4xlarge' } },
  spec: {},
  status: { allocatable: { cpu: '16', memory: '64Gi', 'ephemeral-storage': '100Gi' } },
};
const storageClass = { kind: 'StorageClass', metadata: { name: 'gp3' }, provisioner: 'ebs.csi.aws.com' };
const httpScaledObjectCrd = { kind: 'CustomResourceDefinition', spec: { group: 'http.keda.sh', names: { kind: 'HTTPScaledObject' } } };
const list = (...items: unknown[]) => ({ kind: 'List', items: [node, storageClass, ...items] });
const proxy = (namespace: string, name: string = kedaHttpAddOnServices.interceptorProxy.name) => ({ kind: 'Service', metadata: { name, namespace } });
const facts = (main: unknown, addons?: unknown): ClusterFacts => factsOf(version, main, addons);
const decisions = { name: 'c', definedIn: 'charts/clusters/c.ts' };

describe('the KEDA HTTP add-on in a capture', () => {
  it("takes the add-on's namespace from its interceptor proxy Service, ignoring other Services", () => {
    const f = facts(list(httpScaledObjectCrd), { kind: 'List', items: [proxy('keda-system'), proxy('default', 'keda-add-ons-http-other')] });
    expect(f.kedaHttpAddOnNamespaces).toEqual(['keda-system']);
    expect(profileFromFacts(f, decisions).kedaHttpAddOn).toEqual({ namespace: 'keda-system' });
  });

  it('records nothing without the CRD or without the add-ons capture (unknown, not absent)', () => {
    expect(facts(list(), { kind: 'List', items: [proxy('keda')] }).kedaHttpAddOnNamespaces).toBeUndefined();
    expect(facts(list(httpScaledObjectCrd)).kedaHttpAddOnNamespaces).toBeUndefined();
    expect(profileFromFacts(facts(list(httpScaledObjectCrd)), decisions).kedaHttpAddOn).toBeUndefined();
    // Not captured: a declared namespace cannot be checked, so it is taken as declared.
    expect(profileFromFacts(facts(list(httpScaledObjectCrd)), { ...decisions, kedaHttpAddOn: { namespace: 'keda' } }).kedaHttpAddOn).toEqual({
      namespace: 'keda',
    });
  });

  it('refuses a declared namespace the capture contradicts, naming the file, the field and the fix', () => {
    const found = facts(list(httpScaledObjectCrd), { kind: 'List', items: [proxy('keda-system')] });
    expect(() => profileFromFacts(found, { ...decisions, kedaHttpAddOn: { namespace: 'keda' } })).toThrow(
      /charts\/clusters\/c\.ts: cluster c: kedaHttpAddOn: namespace keda holds no KEDA HTTP add-on interceptor in the capture \(found: keda-system\)\. Fix: set kedaHttpAddOn\.namespace to keda-system/,
    );
    const none = facts(list(httpScaledObjectCrd), { kind: 'List', items: [] });
    expect(none.kedaHttpAddOnNamespaces).toEqual([]);
    expect(profileFromFacts(none, decisions).kedaHttpAddOn).toBeUndefined();
    expect(() => profileFromFacts(none, { ...decisions, kedaHttpAddOn: { namespace: 'keda' } })).toThrow(/found: none\)\. Fix: install the add-on/);
    expect(profileFromFacts(found, { ...decisions, kedaHttpAddOn: { namespace: 'keda-system' } }).kedaHttpAddOn).toEqual({ namespace: 'keda-system' });
  });

  it('asks which one when the add-on runs in two namespaces', () => {
    const two = facts(list(httpScaledObjectCrd), { kind: 'List', items: [proxy('keda-b'), proxy('keda-a')] });
    expect(two.kedaHttpAddOnNamespaces).toEqual(['keda-a', 'keda-b']);
    expect(() => profileFromFacts(two, decisions)).toThrow(/kedaHttpAddOn: the capture found the add-on's interceptor in 2 namespaces \(keda-a, keda-b\)/);
  });

  it('a capture from files joins keda-http-add-on.json to the add-ons list', () => {
    const dir = mkdtempSync(join(tmpdir(), 'capture-keda-files-'));
    try {
      writeFileSync(join(dir, 'version.json'), JSON.stringify(version));
      writeFileSync(join(dir, 'resources.json'), JSON.stringify(list(httpScaledObjectCrd)));
      writeFileSync(join(dir, 'addons.json'), JSON.stringify({ kind: 'List', items: [] }));
      writeFileSync(join(dir, 'keda-http-add-on.json'), JSON.stringify({ kind: 'List', items: [proxy('keda-system')] }));
      const { text } = capture(['--from', dir, '--out', join(dir, 'c.ts')], new Date('2026-12-07T12:00:00Z'));
      expect(text).toContain(`KEDA HTTP add-on: kubectl ${kubectlKedaHttpAddOnArgs.join(' ')}`);
      expect(capturedFactsOf(text).kedaHttpAddOnNamespaces).toEqual(['keda-system']);
      writeFileSync(join(dir, 'keda-http-add-on.json'), JSON.stringify({ kind: 'Service' }));
      expect(() => capture(['--from', dir, '--out', join(dir, 'c.ts')])).toThrow(/keda-http-add-on\.json: expected a kubectl List/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a live capture fetches the interceptor by name only where the CRD is served, and records its namespace', () => {
    const work = mkdtempSync(join(tmpdir(), 'capture-keda-http-'));
    const answer = (name: string, value: unknown) => writeFileSync(join(work, name), JSON.stringify(value));
    answer('version.json', version);
    answer('addons.json', { kind: 'List', items: [] });
    answer('services.json', { kind: 'List', items: [proxy('keda-system')] });
    const run = (main: unknown) => {
      answer('resources.json', main);
      let text = '';
      const calls = withStandInKubectl(work, { nodes: 'resources.json', services: 'services.json', '*': 'addons.json' }, () => {
        text = capture(['--context', 'eks', '--out', join(work, 'eks.ts')], new Date('2026-12-07T12:00:00Z')).text;
      });
      return { calls, json: capturedFactsOf(text) };
    };
    try {
      const withAddOn = run(list(httpScaledObjectCrd));
      expect(withAddOn.calls).toContain(`--context eks ${kubectlKedaHttpAddOnArgs.join(' ')}`);
      expect(withAddOn.json.kedaHttpAddOnNamespaces).toEqual(['keda-system']);
      // Negative control: without the CRD the Services are never listed.
      const without = run(list());
      expect(without.calls.some((c) => c.includes('services'))).toBe(false);
      expect(without.json.kedaHttpAddOnNamespaces).toBeUndefined();
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
