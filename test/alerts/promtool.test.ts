import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseQuantity } from '../../charts/lib/quantity.js';
import { synthesizeAll } from '../../charts/synth.js';
import { committedManifests, type K8sObject } from '../support/manifests.js';
import { scenarioFor, type RuleUnderTest } from './scenarios.js';

/**
 * Every PrometheusRule in dist/, checked by Prometheus's own tool: `promtool check rules` parses
 * and type-checks each expression, `promtool test rules` evaluates each alert on generated series
 * (test/alerts/scenarios.ts). Debian's `prometheus` package ships promtool; .ci/run installs it.
 * Without it the suite is skipped with a message, except in CI, where it fails.
 */
const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
const available = promtool.status === 0;
const inCi = process.env.CI === 'true';
const missing = 'promtool not found: install it (`apt-get install -y prometheus`) to check the alert rules';

const docs = committedManifests();
const rules = docs.filter((d) => d.object.kind === 'PrometheusRule');
const plans = new Map(
  synthesizeAll().builds.flatMap((b) => b.services.map((s) => [`${b.environment.namespace}/${s.service.plan.name}`, s.service.plan] as const)),
);

const work = mkdtempSync(join(tmpdir(), 'promtool-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function run(args: string[]): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { cwd: work, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

function rulesOf(object: K8sObject): RuleUnderTest[] {
  return object.spec.groups.flatMap((g: { rules: RuleUnderTest[] }) => g.rules.filter((r) => r.alert));
}

/** The rule file Prometheus would load from this object: prometheus-operator mounts spec as-is. */
function writeRuleFile(object: K8sObject): string {
  const file = `${object.metadata.namespace}-${object.metadata.name}.rules.yaml`;
  writeFileSync(join(work, file), stringify({ groups: object.spec.groups }));
  return file;
}

function facts(object: K8sObject) {
  const namespace = object.metadata.namespace!;
  const plan = plans.get(`${namespace}/${object.metadata.name}`);
  const deployment = docs.find(
    (d) => d.object.kind === 'Deployment' && d.object.metadata.namespace === namespace && d.object.metadata.name === object.metadata.name,
  )?.object;
  const server = deployment?.spec.template.spec.containers.find((c: { name: string }) => c.name === 'server');
  if (!plan || !server) throw new Error(`${object.metadata.name}: no Deployment or plan in ${namespace}`);
  return {
    namespace,
    service: object.metadata.name,
    memoryLimitBytes: parseQuantity(server.resources.limits.memory)!,
    slowTimeToFirstTokenSeconds: plan.slowTimeToFirstTokenSeconds,
    slowEmbeddingRequestSeconds: plan.slowEmbeddingRequestSeconds,
  };
}

describe('promtool', () => {
  it('is installed wherever CI runs', () => {
    if (!available) {
      if (inCi) throw new Error(`${missing} (CI=true)`);
      console.warn(`skipping the promtool checks: ${missing}`);
    }
    expect(available || !inCi).toBe(true);
  });
});

describe.skipIf(!available).each(rules.map((d) => [`${d.file} ${d.object.metadata.name}`, d.object] as const))('PrometheusRule %s', (_label, object) => {
  it('passes promtool check rules', () => {
    const alerts = rulesOf(object);
    expect(alerts.length).toBeGreaterThan(0);
    const { status, output } = run(['check', 'rules', writeRuleFile(object)]);
    expect(status, output).toBe(0);
    expect(output).toContain(`SUCCESS: ${alerts.length} rules found`);
  });

  it('fires every alert on the series it is meant for, and stays silent otherwise (promtool test rules)', () => {
    const ruleFile = writeRuleFile(object);
    const tests = rulesOf(object).flatMap((r) => scenarioFor(r, facts(object)));
    const testFile = `${object.metadata.namespace}-${object.metadata.name}.test.yaml`;
    writeFileSync(join(work, testFile), stringify({ rule_files: [ruleFile], evaluation_interval: '1m', tests }));
    const { status, output } = run(['test', 'rules', testFile]);
    expect(status, output).toBe(0);
    expect(output).toContain('SUCCESS');
  });
});

describe.skipIf(!available)('the promtool checks can fail', () => {
  const object = rules[0]?.object;

  it('rejects a rule whose expression does not parse', () => {
    expect(object).toBeDefined();
    const broken = structuredClone(object!);
    broken.spec.groups[0].rules[0].expr = 'sum by (namespace (up)';
    const { status } = run(['check', 'rules', writeRuleFile(broken)]);
    expect(status).not.toBe(0);
  });

  it('reports an alert that does not fire where the scenario expects it', () => {
    const ruleFile = writeRuleFile(object!);
    const [first] = rulesOf(object!);
    const tests = scenarioFor(first!, facts(object!));
    // Same series, but the alert is expected on a pod name that never has a problem.
    const wrong = tests.map((t) => ({
      ...t,
      alert_rule_test: t.alert_rule_test.map((a) => ({
        ...a,
        exp_alerts: a.exp_alerts.map((e) => ({ ...e, exp_labels: { ...e.exp_labels, pod: 'nobody-0-0' } })),
      })),
    }));
    writeFileSync(join(work, 'wrong.test.yaml'), stringify({ rule_files: [ruleFile], evaluation_interval: '1m', tests: wrong }));
    const { status, output } = run(['test', 'rules', 'wrong.test.yaml']);
    expect(status, output).not.toBe(0);
  });

  it('reports an alert that fires where none is expected (an old expression that aggregated namespace away)', () => {
    const broken = structuredClone(object!);
    const rule = broken.spec.groups[0].rules.find((r: RuleUnderTest) => r.alert === 'LlmInferencePodNotReady');
    if (!rule) return;
    // The old rule: only kube_pod_status_ready, so a Pending pod has no series and never alerts.
    rule.expr = `sum by (namespace, pod) (kube_pod_status_ready{namespace="${broken.metadata.namespace}", pod=~"${broken.metadata.name}-[a-z0-9]+-[a-z0-9]+", condition="true"}) == 0`;
    const ruleFile = writeRuleFile(broken);
    const tests = scenarioFor(rule, facts(object!));
    writeFileSync(join(work, 'old.test.yaml'), stringify({ rule_files: [ruleFile], evaluation_interval: '1m', tests }));
    const { status, output } = run(['test', 'rules', 'old.test.yaml']);
    expect(status, output).not.toBe(0);
    expect(output).toContain('p3nd9'); // the Pending pod it misses
  });
});
