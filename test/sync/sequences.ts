/**
 * Change sequences: the pull requests teams open (a model bump and its revert, an image bump, a context-size
 * change, a replica change, a service removed and added back, an environment removed, a promotion, a rollback).
 * A sequence is data: a list of commits, each an edit of the typed environment (charts/environments/). The
 * driver synthesizes each commit in memory (charts/synth.ts, every synth rule included), commits dist/<env>/ to
 * the simulated repository and lets the Application controller sync it on the same simulated cluster, with its
 * state carried over: bound claims with their capacity, the model files in each cache, running pods.
 *
 * The definitions (`sequencesFor`) carry no harness types, so another driver (a real API server, tools/
 * control-plane) can replay the same commits: synthesize each with `synthesizeCommit` and apply the files.
 */
import { ChartConfigError } from '../../charts/lib/config-error.js';
import { modelCatalogue } from '../../charts/models/catalogue.js';
import type { ModelSpec } from '../../charts/models/types.js';
import { RuleViolationError } from '../../charts/rules/engine.js';
import type { Environment, ServiceDeclaration } from '../../charts/environments/types.js';
import { synthesizeAll } from '../../charts/synth.js';
import { site } from '../../charts/site.js';
import { parseAllDocuments } from 'yaml';
import { deleteApplication } from './argocd.js';
import { resourceKey, type Obj } from './objects.js';
import { syncedSim } from './scenarios.js';
import type { Target } from './source.js';
import { SyncChecks, type SyncScenarioResult } from './timeline.js';

/** One commit of a sequence: an edit of the environment, or its removal. */
export interface SequenceCommit {
  readonly title: string;
  /** The environment after the commit; `null` removes the environment (its Application is deleted). */
  readonly edit: (env: Environment) => Environment | null;
  /** Claims this commit is allowed to drop (the change asks for it): claim name prefixes. @default none */
  readonly drops?: readonly string[];
  /**
   * Where the commit lands. `main`: on main (charts/site.ts targetRevision): it reaches the environment only if its
   * Application tracks main. `promote`: the branch the environment tracks moves to main (README: promoting a
   * change); `edit` is not used. @default the branch the environment tracks
   */
  readonly lands?: 'main' | 'promote';
}

export interface Sequence {
  readonly name: string;
  readonly commits: readonly SequenceCommit[];
}

/** What a commit synthesizes to: the environment's dist/ files, or the synth refusal (file, field, fix). */
export type CommitOutput = { kind: 'files'; files: Map<string, Obj[]>; environment: Environment } | { kind: 'refused'; message: string } | { kind: 'removed' };

export function synthesizeCommit(env: Environment | null): CommitOutput {
  if (env === null) return { kind: 'removed' };
  try {
    const out = synthesizeAll([env]);
    const files = new Map<string, Obj[]>();
    for (const [path, text] of out.files) {
      if (!path.startsWith(`dist/${env.name}/`)) continue;
      files.set(
        path,
        parseAllDocuments(text)
          .map((d) => d.toJSON() as Obj)
          .filter((o) => o !== null),
      );
    }
    return { kind: 'files', files, environment: env };
  } catch (e) {
    if (e instanceof ChartConfigError || e instanceof RuleViolationError) return { kind: 'refused', message: e.message };
    throw e;
  }
}

const withService = (env: Environment, name: string, s: ServiceDeclaration | undefined): Environment => {
  const services = { ...env.services };
  if (s === undefined) delete services[name];
  else services[name] = s;
  return { ...env, services };
};

/** A model of the same kind to bump to: the smallest larger file, else the largest smaller one. */
export function bumpTarget(model: ModelSpec): ModelSpec | undefined {
  const sameKind = Object.values(modelCatalogue).filter((m) => m.id !== model.id && Boolean(m.embedding) === Boolean(model.embedding));
  const larger = sameKind.filter((m) => m.fileBytes > model.fileBytes).sort((a, b) => a.fileBytes - b.fileBytes);
  const smaller = sameKind.filter((m) => m.fileBytes < model.fileBytes).sort((a, b) => b.fileBytes - a.fileBytes);
  return larger[0] ?? smaller[0];
}

/** The service a sequence edits: the first (by name) with a cache claim, else the first. */
export function subjectService(env: Environment): string | undefined {
  const names = Object.keys(env.services).sort();
  return names.find((n) => env.services[n]?.modelCache.kind === 'persistentVolumeClaim') ?? names[0];
}

/**
 * The service a model bump edits, and the model it moves to: the first service (by name) with a cache claim whose
 * model has a bump target, else the first with any; none when no service's model has a catalogue neighbour (an
 * environment whose only claimed service serves the catalogue's one embedding model still bumps its chat model).
 */
export function modelBumpSubject(env: Environment): { name: string; from: ModelSpec; to: ModelSpec } | undefined {
  const names = Object.keys(env.services).sort();
  const claimed = names.filter((n) => env.services[n]?.modelCache.kind === 'persistentVolumeClaim');
  for (const n of [...claimed, ...names.filter((x) => !claimed.includes(x))]) {
    const from = (env.services[n] as ServiceDeclaration).model;
    const to = bumpTarget(from);
    if (to) return { name: n, from, to };
  }
  return undefined;
}

/** Every sequence for an environment (none when it has no service). */
export function sequencesFor(env: Environment): Sequence[] {
  const name = subjectService(env);
  if (name === undefined) return [];
  const svc = env.services[name] as ServiceDeclaration;
  const out: Sequence[] = [];
  const bumped = modelBumpSubject(env);
  if (bumped) {
    const { name: b, from, to } = bumped;
    const bump: SequenceCommit = {
      title: `${b}: model ${from.id} -> ${to.id}`,
      edit: (e) => withService(e, b, { ...(e.services[b] as ServiceDeclaration), model: to }),
      drops: [`${b}-model-cache-`],
    };
    const revert: SequenceCommit = {
      title: `revert: ${b} back to ${from.id}`,
      edit: (e) => withService(e, b, { ...(e.services[b] as ServiceDeclaration), model: from }),
      drops: [`${b}-model-cache-`],
    };
    out.push({ name: 'model bump and revert', commits: [bump, revert] });
    // The rollback runbook (README: rolling back): a pinned revision is the previous commit's dist/, as a revert is.
    out.push({
      name: 'rollback runbook: pin the environment to the last good commit',
      commits: [bump, { ...revert, title: `pin ${env.name} to the commit before the bump` }],
    });
  }
  const image = svc.image ?? env.image;
  out.push({
    name: 'image bump and revert',
    commits: [
      { title: `${name}: image -> ${image}-next`, edit: (e) => withService(e, name, { ...(e.services[name] as ServiceDeclaration), image: `${image}-next` }) },
      { title: `revert: ${name} image back`, edit: (e) => withService(e, name, { ...(e.services[name] as ServiceDeclaration), image: svc.image }) },
    ],
  });
  // Double the context when the model was trained for it, else halve it (a halved default context can leave no
  // room for MAX_COMPLETION_LENGTH and is refused at synth, which is a valid outcome but exercises no rollout).
  const ctx = svc.contextSize ?? Math.min(4096, svc.model.trainedContext);
  const newCtx = ctx * 2 <= svc.model.trainedContext ? ctx * 2 : ctx / 2;
  out.push({
    name: 'context-size change',
    commits: [
      {
        title: `${name}: contextSize ${ctx} -> ${newCtx}`,
        edit: (e) => withService(e, name, { ...(e.services[name] as ServiceDeclaration), contextSize: newCtx }),
      },
    ],
  });
  out.push({
    name: 'replica or autoscaler change',
    commits: [
      svc.autoscaling
        ? {
            title: `${name}: autoscaling maxReplicas ${svc.autoscaling.maxReplicas} -> ${svc.autoscaling.maxReplicas - 1}`,
            edit: (e) =>
              withService(e, name, {
                ...(e.services[name] as ServiceDeclaration),
                autoscaling: { ...svc.autoscaling!, maxReplicas: Math.max(svc.autoscaling!.minReplicas, svc.autoscaling!.maxReplicas - 1) },
              }),
          }
        : {
            title: `${name}: replicas ${svc.replicas ?? 1} -> ${(svc.replicas ?? 1) + 1}`,
            edit: (e) => withService(e, name, { ...(e.services[name] as ServiceDeclaration), replicas: (svc.replicas ?? 1) + 1 }),
          },
    ],
  });
  out.push({
    name: 'service removed and added back',
    commits: [
      { title: `remove ${name}`, edit: (e) => withService(e, name, undefined), drops: [`${name}-model-cache-`] },
      { title: `add ${name} back`, edit: (e) => withService(e, name, svc) },
    ],
  });
  out.push({ name: 'environment removed', commits: [{ title: `remove environment ${env.name}`, edit: () => null }] });
  out.push({
    name: 'promotion from main to the tracked branch',
    commits: [
      {
        title: `merge to main: ${name} image -> ${image}-promoted`,
        lands: 'main',
        edit: (e) => withService(e, name, { ...(e.services[name] as ServiceDeclaration), image: `${image}-promoted` }),
      },
      { title: `promote: move the tracked branch to main`, lands: 'promote', edit: (e) => e },
    ],
  });
  return out;
}

/** Claim keys (`namespace/name`) live in the cluster, with their files. */
function claims(sim: ReturnType<typeof syncedSim>): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const pvc of sim.cluster.list('PersistentVolumeClaim')) {
    if (pvc.metadata.deletionTimestamp !== undefined) continue;
    const key = `${pvc.metadata.namespace}/${pvc.metadata.name}`;
    out.set(key, new Set(sim.cluster.cacheFiles.get(key) ?? []));
  }
  return out;
}

/**
 * Run a sequence on one Application: first sync, then each commit synthesized, committed and synced in turn.
 * Each commit must end Synced and Healthy (or the environment gone, with its Delete=false objects kept), or be
 * refused at synth naming the file and the field; no claim or cached file may disappear unless the commit drops it.
 */
export function runSequence(target: Target, seq: Sequence): SyncScenarioResult {
  const checks = new SyncChecks();
  const sim = syncedSim(target, seq.name);
  let env = target.environment as Environment;
  let mainEnv = env;
  const tracksMain = target.app.raw.spec?.source?.targetRevision === site.targetRevision;
  const facts: Record<string, string | number> = {};
  for (const [i, commit] of seq.commits.entries()) {
    const before = claims(sim);
    const downloadsBefore = sim.cluster.downloads.length;
    if (commit.lands === 'main') {
      mainEnv = commit.edit(mainEnv) ?? mainEnv;
      if (!tracksMain) {
        const operations = sim.controller.operations.length;
        sim.timeline.add(
          'user',
          `---- commit ${i + 1}: ${commit.title} (on main; ${target.app.name} tracks ${String(target.app.raw.spec?.source?.targetRevision)}) ----`,
        );
        sim.runUntil(() => false, 180);
        checks.must(
          `commit ${i + 1}: a commit on main does not reach an environment on another branch`,
          sim.controller.operations.length === operations && sim.settled(),
          `${sim.controller.operations.length - operations} new operation(s)`,
        );
        facts[`commit${i + 1}`] = 'on main, not synced here';
        continue;
      }
    }
    const next = commit.lands === 'promote' ? mainEnv : commit.lands === 'main' ? mainEnv : commit.edit(env);
    if (commit.lands === undefined && next !== null) mainEnv = next;
    const out = synthesizeCommit(next);
    sim.timeline.add('user', `---- commit ${i + 1}: ${commit.title} ----`);
    if (out.kind === 'refused') {
      checks.must(
        `commit ${i + 1} (${commit.title}) refused at synth naming the file and the field`,
        /charts\/|test\//.test(out.message) && /\w+: /.test(out.message),
        out.message.split('\n').slice(0, 3).join(' '),
      );
      facts[`commit${i + 1}`] = 'refused at synth';
      continue;
    }
    if (out.kind === 'removed') {
      const kept = deleteApplication(sim.controller);
      sim.runUntil(() => [...sim.cluster.objects.values()].every((o) => o.kind !== 'Pod'), sim.horizon());
      const after = claims(sim);
      checks.must(
        `commit ${i + 1}: the Namespace is kept (Delete=false)`,
        kept.some((k) => k.startsWith('/Namespace/')),
        kept.join(', '),
      );
      for (const [claim, files] of before)
        checks.must(
          `commit ${i + 1}: claim ${claim} and its files survive the environment removal`,
          [...files].every((f) => after.get(claim)?.has(f)),
          `before ${[...files].join(',')}; after ${[...(after.get(claim) ?? [])].join(',') || 'gone'}`,
        );
      checks.must(`commit ${i + 1}: no pod is left`, sim.cluster.list('Pod').length === 0, `${sim.cluster.list('Pod').length} pod(s)`);
      facts[`commit${i + 1}`] = `environment removed, kept ${kept.length} object(s)`;
      continue;
    }
    env = out.environment;
    // Pod timing follows the new plans (a bigger model downloads and loads longer).
    for (const b of synthesizeAll([env]).builds) for (const s of b.services) target.plans.set(s.service.plan.name, s.service.plan);
    const files: Record<string, Obj[] | null> = {};
    for (const f of sim.repo.filesUnder(target.app.sourcePath)) if (!out.files.has(f)) files[f] = null;
    for (const [f, objects] of out.files) files[f] = objects;
    sim.repo.commit(commit.title, { files });
    // runUntil reconciles first: a commit that changes anything starts an operation before `settled` is read.
    const settled = sim.runUntil(() => sim.settled(), sim.horizon());
    const op = sim.controller.lastOperation;
    checks.must(
      `commit ${i + 1} (${commit.title}) ends Synced and Healthy`,
      settled,
      `${sim.controller.syncStatus}/${sim.controller.health}; last operation ${op?.phase}: ${op?.message}${op?.failures.length ? `; failures: ${op.failures.slice(0, 2).join('; ')}` : ''}`,
    );
    checks.must(
      `commit ${i + 1}: no update was refused by the API server`,
      (op?.failures ?? []).length === 0 && (op?.retryCount ?? 0) === 0,
      (op?.failures ?? []).join('; ') || 'none',
    );
    const after = claims(sim);
    const desiredClaims = new Set(
      sim
        .desired()
        .filter((m) => m.object.kind === 'PersistentVolumeClaim')
        .map((m) => `${m.object.metadata.namespace}/${m.object.metadata.name}`),
    );
    for (const [claim, files] of before) {
      const dropped = !desiredClaims.has(claim) && (commit.drops ?? []).some((p) => claim.split('/')[1]?.startsWith(p));
      if (dropped) continue;
      checks.must(
        `commit ${i + 1}: claim ${claim} keeps its files`,
        [...files].every((f) => after.get(claim)?.has(f)),
        `before ${[...files].join(',') || 'none'}; after ${[...(after.get(claim) ?? [])].join(',') || 'gone'}`,
      );
    }
    for (const m of sim.deployments()) {
      const live = sim.cluster.get(resourceKey(m.object));
      const same = live !== undefined && JSON.stringify(live.spec.template) === JSON.stringify(m.object.spec.template);
      checks.must(
        `commit ${i + 1}: ${m.object.metadata.name} serves the committed template`,
        same,
        live === undefined ? 'missing' : same ? 'live template = committed' : 'live template differs',
      );
    }
    const downloads = sim.cluster.downloads.slice(downloadsBefore);
    facts[`commit${i + 1}`] =
      `synced at ${sim.timeline.now}s, ${downloads.length} download(s)${downloads.length ? ` (${downloads.map((d) => `${d.file} -> ${d.claim}`).join(', ')})` : ''}`;
  }
  return { scenario: seq.name, application: target.app.name, timeline: sim.timeline, checks: checks.list, facts };
}
