/**
 * Every panel of every environment's committed dashboard, proven against a real Prometheus: Debian's
 * `prometheus` server (the package that ships promtool) on loopback scrapes two real service instances
 * (the random-weight chat model and the BERT embedding model) while the test sends chat, streamed chat and
 * embedding requests through the `openai` client; then each panel query, with the dashboard's variables
 * substituted, goes through Prometheus's HTTP API (/api/v1/query). Each must parse, and each must return
 * series with at least one number: a metric renamed in the service without the dashboard following leaves
 * its panel empty and fails here.
 *
 * Pod and autoscaler state (restarts, readiness, termination reason, HPA replicas) comes from
 * kube-state-metrics in a cluster. Nothing here runs one, so the test serves those series itself from a
 * SYNTHETIC exporter (job `synthetic-kube-state-metrics`), named and labelled as kube-state-metrics exports
 * them (kubernetes/kube-state-metrics docs/metrics/workload/pod-metrics.md and
 * horizontalpodautoscaler-metrics.md): those panels prove their queries parse and select by the right
 * labels, not that a cluster fills them. Which panels ran on real service data is printed at the end.
 *
 * Without the `prometheus` binary the suite is skipped with one line, except in CI, where it fails.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { endpoints, metricNames } from '../../service/contract.js';
import { panelSpecsFor } from '../../charts/dashboard/grafana.js';
import type { PanelSpec } from '../../charts/dashboard/panels.js';
import { ensureBertTestModel } from '../../tools/test-model/bert.js';
import { freePort, startTestApp, waitFor, type TestApp } from '../service/helpers.js';
import { committedDashboards, type CommittedDashboard } from './dashboards.js';

const prometheusBinary = 'prometheus';
const probe = spawnSync(prometheusBinary, ['--version'], { encoding: 'utf8' });
const available = probe.status === 0;
const inCi = process.env.CI === 'true';
const missing = 'prometheus not found: install it (`apt-get install -y prometheus`) to prove the dashboard queries';

/** Labels the ServiceMonitor's scrape gives every service series (prometheus-operator adds them). */
const namespace = 'llm-dashboard-test';
const targets = {
  chat: { service: 'chat', pod: 'chat-6f7d9c5b8d-q2w4x' },
  embed: { service: 'embed', pod: 'embed-7c9d8b6f54-m3n8p' },
} as const;
/** What Grafana puts in for the variables: every service (a regex alternation), a rate window. */
const variables: Record<string, string> = {
  $namespace: namespace,
  $service: `${targets.chat.service}|${targets.embed.service}`,
  // Grafana's $__rate_interval is at least four scrape intervals; a minute covers the whole test's traffic.
  $__rate_interval: '1m',
};
const scrapeInterval = '1s';

export function substitute(expr: string): string {
  return expr.replace(/\$(namespace|service|__rate_interval)\b/g, (v) => variables[v] ?? v);
}

/**
 * SYNTHETIC kube-state-metrics series for the two test pods and a KEDA HPA, in the text format. The
 * restart counter grows by one per scrape so `increase(...[1h])` has something to measure.
 */
function syntheticKubeStateMetrics(scrapes: number): string {
  const lines = ['# SYNTHETIC: served by test/dashboard/prometheus.test.ts in place of kube-state-metrics; no cluster here'];
  for (const { pod } of Object.values(targets)) {
    const p = `namespace="${namespace}",pod="${pod}"`;
    lines.push(
      `kube_pod_container_status_restarts_total{${p},container="server"} ${scrapes}`,
      `kube_pod_container_status_last_terminated_reason{${p},container="server",reason="OOMKilled"} 1`,
      `kube_pod_status_ready{${p},condition="true"} 1`,
      `kube_pod_status_ready{${p},condition="false"} 0`,
      `kube_pod_status_phase{${p},phase="Pending"} 0`,
      `kube_pod_status_phase{${p},phase="Running"} 1`,
    );
  }
  const hpa = `namespace="${namespace}",horizontalpodautoscaler="keda-hpa-${targets.chat.service}"`;
  lines.push(
    `kube_horizontalpodautoscaler_status_current_replicas{${hpa}} 2`,
    `kube_horizontalpodautoscaler_status_desired_replicas{${hpa}} 3`,
    `kube_horizontalpodautoscaler_spec_min_replicas{${hpa}} 2`,
    `kube_horizontalpodautoscaler_spec_max_replicas{${hpa}} 6`,
  );
  return `${lines.join('\n')}\n`;
}

interface QueryResult {
  status: 'success' | 'error';
  error?: string;
  data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> };
}

describe('prometheus server', () => {
  it('is installed wherever CI runs', () => {
    if (!available) {
      if (inCi) throw new Error(`${missing} (CI=true)`);
      console.warn(`skipping the dashboard's Prometheus proof: ${missing}`);
    }
    expect(available || !inCi).toBe(true);
  });
});

describe.skipIf(!available)('every dashboard panel on a real Prometheus scraping the real service', () => {
  // Created in beforeAll, so a skipped suite leaves no directory behind.
  let work = '';
  let chat: TestApp;
  let embed: TestApp;
  let exporter: Server;
  let prometheus: ChildProcess;
  let promUrl = '';
  const promLog: string[] = [];
  const startedAt = performance.now();
  const dashboards = committedDashboards();

  const query = async (expr: string): Promise<QueryResult> => {
    const res = await fetch(`${promUrl}/api/v1/query`, { method: 'POST', body: new URLSearchParams({ query: expr }) });
    return (await res.json()) as QueryResult;
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'dashboard-prometheus-'));
    // A memory limit the service reads as its cgroup's (MEMORY_LIMIT_CGROUP_ROOT), so the limit and the
    // guard's trip point are exported as in a pod.
    writeFileSync(join(work, 'memory.max'), `${8 * 2 ** 30}\n`);
    const bert = await ensureBertTestModel();
    [chat, embed] = await Promise.all([
      startTestApp({ PARALLEL: '2', MAX_QUEUE: '4', MEMORY_LIMIT_CGROUP_ROOT: work }),
      startTestApp({ MODEL: bert, SERVICE_KIND: 'embedding', CONTEXT_SIZE: '512', MAX_QUEUE: '4', MEMORY_LIMIT_CGROUP_ROOT: work }),
    ]);

    let scrapes = 0;
    exporter = createServer((_req, res) => {
      scrapes += 1;
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(syntheticKubeStateMetrics(scrapes));
    });
    await new Promise<void>((resolve) => exporter.listen(0, '127.0.0.1', resolve));
    const exporterAddress = exporter.address();
    const exporterPort = typeof exporterAddress === 'object' && exporterAddress !== null ? exporterAddress.port : 0;

    const hostOf = (base: string) => base.replace(/^http:\/\//, '');
    const serviceJob = (t: TestApp, target: { service: string; pod: string }) => ({
      job_name: target.service,
      metrics_path: endpoints.metrics,
      static_configs: [{ targets: [hostOf(t.base)], labels: { namespace, service: target.service, pod: target.pod, container: 'server' } }],
    });
    const config = {
      global: { scrape_interval: scrapeInterval, scrape_timeout: scrapeInterval, evaluation_interval: scrapeInterval },
      scrape_configs: [
        serviceJob(chat, targets.chat),
        serviceJob(embed, targets.embed),
        // kube-state-metrics' own labels (namespace, pod) are the pod's, not the exporter's: honour them.
        { job_name: 'synthetic-kube-state-metrics', honor_labels: true, static_configs: [{ targets: [`127.0.0.1:${exporterPort}`] }] },
      ],
    };
    writeFileSync(join(work, 'prometheus.yml'), stringify(config));
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      prometheusBinary,
      [
        `--config.file=${join(work, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(work, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    prometheus.stdout?.on('data', (b: Buffer) => promLog.push(b.toString()));
    prometheus.stderr?.on('data', (b: Buffer) => promLog.push(b.toString()));
    await waitFor('prometheus ready', async () => (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.ok, 30_000, 100);

    // Two rounds of traffic with a scrape between them, so every counter and histogram has increased
    // inside the rate window (a series first seen at its final value has a rate of 0).
    // Each target is waited for on its own counter: a scrape of a busy target can time out and be missed.
    const counted = async (what: string, route: string, service: string, atLeast: number) =>
      waitFor(
        what,
        async () => {
          const r = await query(`sum(${metricNames.requests}{namespace="${namespace}", service="${service}", route="${route}"})`);
          const v = Number(r.data?.result[0]?.value[1] ?? 0);
          return v >= atLeast ? v : undefined;
        },
        60_000,
        200,
      );
    for (let round = 1; round <= 2; round++) {
      await sendTraffic();
      await counted(`round ${round}: chat requests scraped`, endpoints.chatCompletions, targets.chat.service, chatRequestsPerRound * round);
      await counted(`round ${round}: embedding requests scraped`, endpoints.embeddings, targets.embed.service, embeddingRequestsPerRound * round);
    }
    // One more scrape of every target after the last request.
    await new Promise((r) => setTimeout(r, 2_500));
  }, 180_000);

  afterAll(async () => {
    prometheus?.kill('SIGTERM');
    await new Promise((r) => (prometheus?.exitCode !== null ? r(undefined) : prometheus.once('exit', r)));
    await new Promise((r) => exporter?.close(r));
    await Promise.all([chat?.close(), embed?.close()]);
    if (work !== '') rmSync(work, { recursive: true, force: true });
    console.log(`dashboard Prometheus proof: ${((performance.now() - startedAt) / 1000).toFixed(1)} s from start to teardown`);
  });

  /** Requests per round of sendTraffic() on each route the rounds are counted by. */
  const chatRequestsPerRound = 4;
  const embeddingRequestsPerRound = 2;

  /** Chat (twice the same prompt: the second reuses it), a stream, embeddings, a refused prompt, the probes. */
  async function sendTraffic(): Promise<void> {
    const model = chat.app.llm.engine.modelId;
    const messages = [{ role: 'user' as const, content: 'Describe the weather in three short sentences.' }];
    await chat.client.chat.completions.create({ model, messages, max_tokens: 8 });
    await chat.client.chat.completions.create({ model, messages, max_tokens: 8 });
    const stream = await chat.client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Count to ten.' }], max_tokens: 8, stream: true });
    for await (const _chunk of stream) {
      // drain the stream to [DONE]
    }
    await chat.client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 8 });
    // Longer than CONTEXT_SIZE: refused with 400 before it runs (llm_requests_rejected_total{reason="prompt_too_long"}).
    await expect(chat.client.chat.completions.create({ model, messages: [{ role: 'user', content: 'word '.repeat(3000) }], max_tokens: 8 })).rejects.toThrow(
      /maximum context length/,
    );
    const embedModel = embed.app.llm.engine.modelId;
    await embed.client.embeddings.create({ model: embedModel, input: ['first text to embed', 'a second, longer text to embed'] });
    await embed.client.embeddings.create({ model: embedModel, input: 'one more' });
    for (const t of [chat, embed]) {
      for (const path of [endpoints.live, endpoints.ready, endpoints.startup]) expect((await fetch(`${t.base}${path}`)).status).toBe(200);
    }
  }

  const seriesCounts = new Map<string, { panel: PanelSpec; counts: number[] }>();

  it('finds the dashboard of every environment in dist/', () => {
    expect(dashboards.length).toBeGreaterThan(0);
    for (const d of dashboards) expect(d.panels.length, d.file).toBeGreaterThan(0);
  });

  it.each(dashboards.map((d) => [d.file, d] as const))(
    '%s: every panel query parses and returns series with numbers',
    async (_file, dashboard: CommittedDashboard) => {
      const failures: string[] = [];
      for (const panel of dashboard.panels) {
        const counts: number[] = [];
        for (const target of panel.targets) {
          const expr = substitute(target.expr);
          expect(expr, `${panel.title}: an unsubstituted variable`).not.toMatch(/\$/);
          const r = await query(expr);
          if (r.status !== 'success') {
            failures.push(`${panel.title} [${target.refId}]: Prometheus refused the query: ${r.error} (${expr})`);
            continue;
          }
          const numbers = (r.data?.result ?? []).filter((s) => Number.isFinite(Number(s.value[1])));
          counts.push(r.data?.result.length ?? 0);
          if (numbers.length === 0) failures.push(`${panel.title} [${target.refId}]: no series with a number (${expr})`);
        }
        const spec = panelSpecsFor(new Set(['chat', 'embedding'])).find((p) => p.title === panel.title);
        if (spec !== undefined) seriesCounts.set(spec.key, { panel: spec, counts });
      }
      expect(failures, failures.join('\n')).toEqual([]);
    },
  );

  it('fails a panel whose metric the service does not export, and a query that does not parse (negative controls)', async () => {
    const renamed = await query(substitute(`max by (pod) (${metricNames.queueDepth}_renamed{namespace="$namespace", service=~"$service"})`));
    expect(renamed.status).toBe('success');
    expect(renamed.data?.result).toEqual([]);
    const broken = await query('sum by (pod (llm_queue_depth)');
    expect(broken.status).toBe('error');
  });

  it('finds both services for the `service` variable, as Grafana asks for label_values (/api/v1/label/<name>/values)', async () => {
    for (const d of dashboards) {
      const variable = d.dashboard.templating?.list?.find((v) => v.name === 'service');
      const m = /^label_values\((.+), (\w+)\)$/.exec(String(variable?.query));
      expect(m, d.file).not.toBeNull();
      const params = new URLSearchParams({ 'match[]': substitute(m![1]!) });
      const res = (await (await fetch(`${promUrl}/api/v1/label/${m![2]}/values?${params}`)).json()) as { status: string; data: string[] };
      expect(res.status).toBe('success');
      expect(res.data.sort()).toEqual([targets.chat.service, targets.embed.service]);
    }
  });

  it('exports no KV cache gauge for the embedding service (an encoder has no KV cache)', async () => {
    const r = await query(`${metricNames.kvCacheUsage}{namespace="${namespace}"}`);
    expect(r.data?.result.map((s) => s.metric.service)).toEqual([targets.chat.service]);
  });

  it('reports each panel with its queries and the series Prometheus returned', () => {
    const rows = [...seriesCounts.values()].map(
      ({ panel, counts }) => `${panel.source === 'service' ? 'real     ' : 'SYNTHETIC'}  ${panel.key}: ${counts.join('+')} series`,
    );
    console.log(
      `dashboard panels proven (real = scraped from the service, SYNTHETIC = served by the test in place of kube-state-metrics):\n${rows.join('\n')}`,
    );
    expect(seriesCounts.size).toBe(panelSpecsFor(new Set(['chat', 'embedding'])).length);
    if (promLog.some((l) => /level=error/.test(l))) console.warn(promLog.join(''));
  });
});
