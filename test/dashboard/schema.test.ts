/**
 * The committed dashboards against Grafana's published schema, and the properties synth promises: stable
 * bytes, the cluster's sidecar label and folder, descriptions that name real alerts, rows for the kinds an
 * environment runs.
 *
 * Schema: `@grafana/schema` (Grafana's own package of types generated from its CUE kinds; the version is
 * in package.json) has no JSON Schema file, so ts-json-schema-generator turns its `Dashboard` type and the
 * time series panel's `Options` and `FieldConfig` into JSON Schemas with no additional properties allowed,
 * and Ajv validates every committed dashboard, panel options and field config with them.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import { Testing } from 'cdk8s';
import { createGenerator } from 'ts-json-schema-generator';
import { beforeAll, describe, expect, it } from 'vitest';
import { grafanaOf } from '../../charts/clusters/grafana.js';
import { environments } from '../../charts/environments/index.js';
import { InferenceDashboard } from '../../charts/constructs/grafana-dashboard.js';
import { panelDescription, panelSpecsFor } from '../../charts/dashboard/grafana.js';
import { alertNames, panelRows } from '../../charts/dashboard/panels.js';
import { dashboardDocPath, replacePanelTable } from '../../charts/dashboard/docs.js';
import { synthesizeAll } from '../../charts/synth.js';
import { buildEnvironment } from '../../charts/environment-chart.js';
import { repoRoot } from '../support/manifests.js';
import { committedDashboards } from './dashboards.js';

const grafanaSchemaVersion = (JSON.parse(readFileSync(`${repoRoot}/node_modules/@grafana/schema/package.json`, 'utf8')) as { version: string }).version;
const dashboards = committedDashboards();

describe(`Grafana's published dashboard schema (@grafana/schema ${grafanaSchemaVersion})`, () => {
  let dashboardSchema: ValidateFunction;
  let optionsSchema: ValidateFunction;
  let fieldConfigSchema: ValidateFunction;

  beforeAll(() => {
    const generator = createGenerator({
      path: `${repoRoot}/test/dashboard/grafana-types.ts`,
      tsconfig: `${repoRoot}/tsconfig.json`,
      skipTypeCheck: true,
      additionalProperties: false,
    });
    const ajv = new Ajv({ allErrors: true, strict: false });
    dashboardSchema = ajv.compile(generator.createSchema('GrafanaDashboard'));
    optionsSchema = ajv.compile(generator.createSchema('GrafanaTimeSeriesOptions'));
    fieldConfigSchema = ajv.compile(generator.createSchema('GrafanaTimeSeriesFieldConfig'));
  }, 120_000);

  const errors = (v: ValidateFunction) => JSON.stringify(v.errors, null, 1);

  it.each(dashboards.map((d) => [d.file, d] as const))("%s validates: dashboard, every panel's options and field config", (_file, d) => {
    expect(dashboardSchema(d.dashboard), errors(dashboardSchema)).toBe(true);
    for (const panel of d.panels) {
      expect(panel.type).toBe('timeseries');
      expect(optionsSchema(panel.options), `${panel.title}: ${errors(optionsSchema)}`).toBe(true);
      expect(fieldConfigSchema(panel.fieldConfig?.defaults.custom), `${panel.title}: ${errors(fieldConfigSchema)}`).toBe(true);
    }
  });

  it('refuses a dashboard with a wrong type or an unknown field (the check can fail)', () => {
    const d = structuredClone(dashboards[0]!.dashboard) as unknown as Record<string, unknown>;
    expect(dashboardSchema({ ...d, schemaVersion: '39' })).toBe(false);
    expect(dashboardSchema({ ...d, pannels: [] })).toBe(false);
    const panel = structuredClone(dashboards[0]!.panels[0]!);
    expect(optionsSchema({ ...panel.options, legend: { displayMode: 'sideways', placement: 'bottom', showLegend: true, calcs: [] } })).toBe(false);
  });
});

describe('the synthesized dashboards', () => {
  it('are written for every environment, byte-identical across synths and to what is committed', () => {
    const first = synthesizeAll();
    const second = synthesizeAll();
    for (const env of environments) {
      const path = `dist/${env.name}/grafana-dashboard.yaml`;
      expect(first.files.get(path), path).toBeDefined();
      expect(second.files.get(path)).toBe(first.files.get(path));
      expect(readFileSync(`${repoRoot}/${path}`, 'utf8')).toBe(first.files.get(path));
    }
    expect(dashboards.map((d) => d.file).sort()).toEqual(environments.map((e) => `dist/${e.name}/grafana-dashboard.yaml`).sort());
  });

  it("carry the sidecar labels of the cluster's Grafana and scope every query to the environment's namespace", () => {
    for (const d of dashboards) {
      const env = environments.find((e) => d.file === `dist/${e.name}/grafana-dashboard.yaml`)!;
      expect(d.configMap.metadata.namespace).toBe(env.namespace);
      expect(d.configMap.metadata.labels).toMatchObject(grafanaOf(env.cluster).dashboardLabels);
      const ns = d.dashboard.templating?.list?.find((v) => v.name === 'namespace');
      expect(ns?.query).toBe(env.namespace);
      for (const panel of d.panels) for (const t of panel.targets) expect(t.expr, panel.title).toMatch(/namespace="\$namespace"/);
    }
  });

  it('file the dashboard in the folder a cluster profile names, by its annotation', () => {
    const chart = Testing.chart();
    new InferenceDashboard(chart, 'd', {
      environment: 'x',
      namespace: 'llm-x',
      kinds: new Set(['chat']),
      grafana: { dashboardLabels: { team_dashboards: 'yes' }, folder: { annotation: 'grafana_folder', name: 'LLM inference' } },
      labels: {},
    });
    const [cm] = Testing.synth(chart) as Array<{ metadata: { labels: Record<string, string>; annotations: Record<string, string> } }>;
    expect(cm?.metadata.labels).toEqual({ team_dashboards: 'yes' });
    expect(cm?.metadata.annotations.grafana_folder).toBe('LLM inference');
  });

  it('show the rows of the kinds an environment runs, and only those', () => {
    const builds = synthesizeAll().builds;
    for (const d of dashboards) {
      const build = builds.find((b) => d.file === `dist/${b.environment.name}/grafana-dashboard.yaml`)!;
      const kinds = new Set(build.services.map((s) => s.service.plan.kind));
      const titles = (d.dashboard.panels ?? []).filter((p) => p.type === 'row').map((p) => p.title);
      expect(titles).toEqual(panelRows.filter((r) => r.kinds.some((k) => kinds.has(k))).map((r) => r.title));
      expect(d.panels.map((p) => p.title)).toEqual(panelSpecsFor(kinds).map((p) => p.title));
    }
  });

  it('describe every panel with the alerts that exist, and every alert is on some panel', () => {
    const all = panelRows.flatMap((r) => r.panels);
    for (const spec of all) {
      for (const alert of spec.alerts) expect(alertNames.has(alert), `${spec.key}: ${alert}`).toBe(true);
      expect(panelDescription(spec)).toContain(spec.description);
    }
    expect([...alertNames].filter((a) => !all.some((p) => p.alerts.includes(a)))).toEqual([]);
    const keys = all.map((p) => p.key);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('are listed in docs/dashboard.md, one line per panel with its queries; a page without the markers is refused', () => {
    const page = readFileSync(`${repoRoot}/${dashboardDocPath}`, 'utf8');
    for (const spec of panelRows.flatMap((r) => r.panels)) {
      const line = page.split('\n').find((l) => l.includes(`| ${spec.title.replace(/\|/g, '\\|')} |`));
      expect(line, spec.title).toBeDefined();
      for (const q of spec.queries) expect(line).toContain(q.expr.replace(/\|/g, '\\|'));
    }
    expect(() => replacePanelTable('# no markers')).toThrow(/docs\/dashboard\.md: the panel table markers are missing\. Fix:/);
  });

  it('refuse a service named like the dashboard file, naming the file, the object, the field and the fix', () => {
    const env = environments[0]!;
    const [first] = Object.values(env.services);
    expect(() => buildEnvironment({ ...env, services: { ...env.services, 'grafana-dashboard': first! } })).toThrow(
      new RegExp(`${env.definedIn}: ${env.name}/grafana-dashboard: services: .*dist/${env.name}/grafana-dashboard\\.yaml.*Fix: rename the service`),
    );
  });
});
