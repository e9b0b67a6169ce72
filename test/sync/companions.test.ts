/**
 * Companions under the Argo CD harness (docs/companions.md). Applications of plain manifests, companions'
 * included, sync in test/sync/sync.test.ts like every other. Here: what the harness can check of an Application
 * whose source is a Helm chart (rendered by the repo server from the chart repository, which these tests cannot
 * reach), and the order in which the root Application creates the Applications of an environment with companions.
 */
import { describe, expect, it } from 'vitest';
import { environments } from '../../charts/environments/index.js';
import { applicationWaves, gitopsDir } from '../../charts/gitops/argocd.js';
import { SyncSim } from './sim.js';
import { findApplications, findProject, resolveTarget, sourceNotPermitted } from './source.js';

const applications = findApplications();
const charts = applications.filter((a) => a.chart !== undefined);
const root = applications.find((a) => a.sourcePath === gitopsDir)!;

describe.each(charts.map((a) => [a.name, a] as const))('Helm Application %s', (_name, app) => {
  const project = findProject(app.project);

  it('is admitted by its project: the chart repository in sourceRepos, the destination in destinations', () => {
    expect(sourceNotPermitted(app, project)).toBeUndefined();
    expect(project!.destinations).toContainEqual({ name: app.destination.name, namespace: app.destination.namespace });
  });

  it('control: without the chart repository in sourceRepos, Argo CD refuses the Application before rendering it', () => {
    const without = { ...project!, sourceRepos: project!.sourceRepos.filter((r) => r !== app.repoURL) };
    expect(sourceNotPermitted(app, without)).toBe(`application repo ${app.repoURL} is not permitted in project '${project!.name}'`);
  });

  it('pins one chart version, and deploys to an environment of charts/environments/', () => {
    expect(app.chart!.version).toMatch(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/);
    expect(resolveTarget(app).environment).toBeDefined();
  });
});

describe('Applications of this repository', () => {
  it('are all admitted by their projects (sourceRepos), and a project without the repository refuses them', () => {
    for (const app of applications) expect(sourceNotPermitted(app, findProject(app.project)), app.name).toBeUndefined();
    const project = findProject(root.project)!;
    expect(sourceNotPermitted(root, { ...project, sourceRepos: ['https://example.com/other.git'] })).toContain('is not permitted');
  });
});

describe.each(environments.filter((e) => Object.keys(e.companions ?? {}).length > 0).map((e) => [e.name, e] as const))(
  'root Application, environment %s with companions',
  (_name, env) => {
    it('creates the projects, then the companions declared before-models, the environment, then the ones after', () => {
      const sim = new SyncSim(resolveTarget(root), `root sync, order of ${env.name}'s Applications`);
      expect(
        sim.runUntil(() => sim.settled(), sim.horizon()),
        sim.timeline.format(),
      ).toBe(true);
      const appliedAt = (name: string): number => {
        const record = sim.controller.waves.find((w) => w.objects.some((o) => o.key.endsWith(`/Application/${sim.target.app.destination.namespace}/${name}`)));
        expect(record, `${name} applied\n${sim.timeline.format()}`).toBeDefined();
        return record!.wave;
      };
      const projectWave = sim.controller.waves.find((w) => w.objects.some((o) => o.key.includes('/AppProject/')))!.wave;
      const models = appliedAt(`llm-${env.name}`);
      expect(models).toBe(applicationWaves.models);
      for (const [name, c] of Object.entries(env.companions ?? {})) {
        const wave = appliedAt(`llm-${env.name}-${name}`);
        expect(wave, name).toBeGreaterThan(projectWave);
        if (c.order === 'before-models') expect(wave, name).toBeLessThan(models);
        else expect(wave, name).toBeGreaterThan(models);
      }
    });
  },
);
