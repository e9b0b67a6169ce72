/**
 * .github/workflows/: every workflow parses with GitHub's parser, and the image workflow builds, attests, signs and
 * records exactly the images charts/environments/published-images.ts lists, with third-party actions pinned.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { publishedImageIds, publishedImages } from '../../charts/environments/published-images.js';
import { buildPlan, outputKey, planOutputs } from '../../tools/image-digests/digests.js';
import { repoRoot } from '../support/manifests.js';
import { workflowErrors } from './validate.js';

const workflowsDir = join(repoRoot, '.github/workflows');
const workflowFiles = readdirSync(workflowsDir).filter((f) => /\.ya?ml$/.test(f));
const imageWorkflowPath = join(workflowsDir, 'image.yml');
const imageWorkflowText = readFileSync(imageWorkflowPath, 'utf8');
/* eslint-disable @typescript-eslint/no-explicit-any -- a workflow is read as plain YAML */
const workflow = parse(imageWorkflowText) as any;
const steps = (job: string): any[] => workflow.jobs[job].steps;

const scratch = mkdtempSync(join(tmpdir(), 'workflow-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('workflows parse with @actions/workflow-parser', () => {
  it('every workflow has no errors', () => {
    expect(workflowFiles).toContain('image.yml');
    const errors = workflowErrors(workflowFiles.map((f) => join(workflowsDir, f)));
    for (const f of workflowFiles) expect(errors[join(workflowsDir, f)], f).toEqual([]);
  });

  it('negative control: a copy with an invalid key, a broken expression or a missing job fails', () => {
    const cases: Array<[string, string, RegExp]> = [
      [
        'invalid key',
        imageWorkflowText.replace('    runs-on: ubuntu-latest\n    timeout-minutes: 120\n', '    runs-on: ubuntu-latest\n    timeout-minutez: 120\n'),
        /Unexpected value 'timeout-minutez'/,
      ],
      [
        'broken expression',
        imageWorkflowText.replace('${{ steps.plan.outputs.registry }}', '${{ steps.plan.outputs.registry == }}'),
        /Unexpected end of expression|Unexpected symbol/,
      ],
      ['unknown needs', imageWorkflowText.replace('    needs: build\n', '    needs: built\n'), /depends on unknown job 'built'/],
    ];
    const copies = cases.map(([what, text], i) => {
      expect(text, what).not.toBe(imageWorkflowText);
      const copy = join(scratch, `image-${i}.yml`);
      writeFileSync(copy, text);
      return copy;
    });
    const errors = workflowErrors(copies);
    cases.forEach(([what, , expected], i) => expect(errors[copies[i]!]!.join('\n'), what).toMatch(expected));
  });
});

describe('image workflow', () => {
  it('pins every third-party action by a full commit SHA with its release in a comment', () => {
    const uses = [...imageWorkflowText.matchAll(/^\s*(?:-\s+)?uses:\s*(\S+)(.*)$/gm)];
    expect(uses.length).toBeGreaterThan(0);
    for (const [line, ref, comment] of uses) {
      if (ref!.startsWith('./')) continue;
      expect(ref, line).toMatch(/^[\w.-]+\/[\w.-]+(\/[\w./-]+)?@[0-9a-f]{40}$/);
      expect(comment, line).toMatch(/^\s+# v\d+\.\d+\.\d+$/);
    }
  });

  it('runs on v* tags and on main, and never rebuilds for a digest bump', () => {
    expect(workflow.on.push.tags).toEqual(['v*']);
    expect(workflow.on.push.branches).toEqual(['main']);
    for (const path of ['dist/**', 'charts/images.json']) expect(workflow.on.push['paths-ignore']).toContain(path);
  });

  it('builds, attests and pushes every published image with the plan the tool computes, and signs it by digest', () => {
    expect(workflow.jobs.build.permissions['id-token']).toBe('write');
    const planStep = steps('build').find((s) => s.id === 'plan');
    expect(planStep.run).toContain('image:digests -- plan');
    const sign = steps('build').find((s) => typeof s.run === 'string' && s.run.includes('cosign sign'));
    expect(sign, 'a cosign sign step').toBeDefined();
    for (const id of publishedImageIds) {
      const step = steps('build').find((s) => s.id === id);
      expect(step, `a build step with id ${id}`).toBeDefined();
      expect(step.uses).toMatch(/^docker\/build-push-action@/);
      expect(step.with).toMatchObject({
        context: '.',
        target: `\${{ steps.plan.outputs.${outputKey(id, 'target')} }}`,
        platforms: `\${{ steps.plan.outputs.${outputKey(id, 'platforms')} }}`,
        tags: `\${{ steps.plan.outputs.${outputKey(id, 'reference')} }}`,
        push: true,
        sbom: true,
        provenance: 'mode=max',
      });
      // Signed by digest (repository@digest), not by tag.
      const digestEnv = Object.entries(sign.env as Record<string, string>).find(([, v]) => v === `\${{ steps.${id}.outputs.digest }}`);
      expect(digestEnv, `sign step env holds the digest of ${id}`).toBeDefined();
      expect(sign.run).toContain(`cosign sign --yes "$REPOSITORY@$${digestEnv![0]}"`);
      // Recorded on release.
      const record = steps('record').find((s) => typeof s.run === 'string' && s.run.includes('image:digests -- set'));
      expect(record.run).toContain(`--image ${id} `);
    }
  });

  it('reads only plan outputs the tool writes', () => {
    const written = new Set(planOutputs(buildPlan('refs/heads/main', 'a'.repeat(40))).map((l) => l.split('=')[0]));
    const read = [...imageWorkflowText.matchAll(/steps\.plan\.outputs\.([\w-]+)/g)].map((m) => m[1]!);
    expect(read.length).toBeGreaterThan(0);
    expect(read.filter((k) => !written.has(k))).toEqual([]);
  });

  it('opens the pull request from a synth on the default branch, with the digests file and dist/', () => {
    const record = workflow.jobs.record;
    expect(record.if).toBe("needs.build.outputs.channel == 'release'");
    const names = record.steps.map((s: any) => s.run ?? s.uses);
    const at = (pred: (x: string) => boolean): number => names.findIndex((x: string) => pred(x));
    const set = at((x) => x.includes('image:digests -- set'));
    const synth = at((x) => x === 'npm run synth');
    const pr = at((x) => x.startsWith('peter-evans/create-pull-request@'));
    expect(set).toBeGreaterThan(-1);
    expect(synth).toBeGreaterThan(set);
    expect(pr).toBeGreaterThan(synth);
    const paths = String(record.steps[pr].with['add-paths']).split('\n');
    for (const p of ['charts/images.json', 'dist']) expect(paths).toContain(p);
    expect(record.permissions).toMatchObject({ contents: 'write', 'pull-requests': 'write' });
  });
});

describe('docs/operations.md "Publish the image"', () => {
  it('builds every published image by hand with its target and platforms, and signs it', () => {
    const page = readFileSync(join(repoRoot, 'docs/operations.md'), 'utf8');
    const section = page.slice(page.indexOf('## Publish the image'), page.indexOf('\n## ', page.indexOf('## Publish the image') + 1));
    expect(section.length).toBeGreaterThan(100);
    for (const id of publishedImageIds) {
      expect(section).toContain(`docker buildx build . --target ${publishedImages[id].target} --platform ${publishedImages[id].platforms.join(',')} `);
      expect(section).toContain(`npm run image:digests -- set --image ${id} `);
    }
    expect(section).toContain('cosign sign --yes');
  });
});
