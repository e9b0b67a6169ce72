/**
 * The Dockerfile as data (parsed by dockerfile-ast, the parser behind the VS Code Docker language server),
 * and a builder that performs its stages without a Docker engine: COPY from the assembled build context or
 * another stage, ENV and ARG substituted, RUN in a bubblewrap sandbox (test/image/sandbox.ts) whose root is
 * the host's operating system, read-only, standing in for the base image's.
 *
 * Only what this repository's Dockerfile uses is modelled: a stage's files live under its WORKDIR, /app
 * (the base images have nothing there), and anything else is refused with a message saying so.
 */
import { Copy, DockerfileParser, type Instruction } from 'dockerfile-ast';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, posix } from 'node:path';

export interface DockerStage {
  readonly name: string;
  /** The FROM image or stage name, ARGs substituted. */
  readonly from: string;
  readonly instructions: readonly Instruction[];
}

export interface ParsedDockerfile {
  /** ARGs declared before the first FROM, with their defaults resolved. */
  readonly args: ReadonlyMap<string, string>;
  readonly stages: readonly DockerStage[];
}

/** `${NAME}` and `$NAME` replaced from `vars`; an unknown name is an error, not an empty string. */
export function substitute(text: string, vars: ReadonlyMap<string, string>): string {
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    const value = vars.get(name);
    if (value === undefined) throw new Error(`Dockerfile: variable ${name} is used but never declared`);
    return value;
  });
}

export function parseDockerfile(file: string): ParsedDockerfile {
  const dockerfile = DockerfileParser.parse(readFileSync(file, 'utf8'));
  const args = new Map<string, string>();
  for (const arg of dockerfile.getInitialARGs()) {
    const property = arg.getProperty();
    if (!property) continue;
    args.set(property.getName(), substitute(property.getValue() ?? '', args));
  }
  const stages: { name: string; from: string; instructions: Instruction[] }[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      const [image = '', as, name] = instruction.getArguments().map((a) => a.getValue());
      if (as?.toUpperCase() !== 'AS' || !name) throw new Error(`Dockerfile: every stage needs a name (FROM ${image} AS <name>)`);
      stages.push({ name, from: substitute(image, args), instructions: [] });
    } else if (stages.length > 0) {
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return { args, stages };
}

export function stageNamed(dockerfile: ParsedDockerfile, name: string): DockerStage {
  const stage = dockerfile.stages.find((s) => s.name === name);
  if (!stage) throw new Error(`Dockerfile: no stage named ${name} (stages: ${dockerfile.stages.map((s) => s.name).join(', ')})`);
  return stage;
}

/** KEY=value pairs of one ENV instruction. */
export function envOf(instruction: Instruction): [string, string][] {
  return instruction.getArguments().map((a) => {
    const [key = '', ...value] = a.getValue().split('=');
    return [key, value.join('=')];
  });
}

/** The environment a stage's processes see: its parent stage's, then its own ENV lines (in order). */
export function stageEnv(dockerfile: ParsedDockerfile, name: string): Map<string, string> {
  const stage = stageNamed(dockerfile, name);
  const parent = dockerfile.stages.find((s) => s.name === stage.from);
  const env = parent ? stageEnv(dockerfile, parent.name) : new Map<string, string>();
  for (const instruction of stage.instructions) {
    if (instruction.getKeyword() === 'ENV') for (const [k, v] of envOf(instruction)) env.set(k, substitute(v, new Map([...dockerfile.args, ...env])));
  }
  return env;
}

/** The last value of a single-valued instruction (WORKDIR, USER, CMD) in a stage, or undefined. */
export function lastOf(stage: DockerStage, keyword: string): Instruction | undefined {
  return stage.instructions.filter((i) => i.getKeyword() === keyword).at(-1);
}

/** A RUN line as the shell receives it: continuations joined (dockerfile-ast does the joining). */
export function runScript(instruction: Instruction): string {
  return instruction.getArgumentsContent() ?? '';
}

/** Runs one RUN line of a stage: `/bin/sh -c script` with the stage's environment, cwd = the stage's /app. */
export type RunInSandbox = (stage: DockerStage, script: string, env: Map<string, string>, appDir: string) => Promise<void>;

export interface StageBuilderOptions {
  dockerfile: ParsedDockerfile;
  /** The assembled build context. */
  contextDir: string;
  /** Where the stages' /app trees are built. */
  workDir: string;
  run: RunInSandbox;
  /**
   * RUN lines this builder cannot perform (they change files outside /app: users in /etc, /models), each
   * returned as skipped so the caller can assert what it would have done. Default: none skipped.
   */
  skip?: (stage: DockerStage, script: string) => boolean;
}

export interface BuiltStage {
  /** The stage's /app. */
  readonly appDir: string;
  readonly skippedRuns: readonly string[];
}

function copyInto(src: string, dest: string): void {
  const result = spawnSync('cp', ['-a', '--', src, dest], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`cp ${src} ${dest}: ${result.stderr}`);
}

/** Builds stages on demand (each once), like BuildKit resolving a target's dependencies. */
export class StageBuilder {
  private readonly built = new Map<string, Promise<BuiltStage>>();
  constructor(private readonly opts: StageBuilderOptions) {}

  build(name: string): Promise<BuiltStage> {
    let stage = this.built.get(name);
    if (!stage) {
      stage = this.perform(stageNamed(this.opts.dockerfile, name));
      this.built.set(name, stage);
    }
    return stage;
  }

  private async perform(stage: DockerStage): Promise<BuiltStage> {
    const { dockerfile, contextDir, workDir } = this.opts;
    const appDir = join(workDir, stage.name, 'app');
    mkdirSync(join(workDir, stage.name), { recursive: true });
    const parent = dockerfile.stages.find((s) => s.name === stage.from);
    if (parent) {
      // A hard-linked copy: the child's RUN lines delete and add files without touching the parent's tree.
      const source = (await this.build(parent.name)).appDir;
      const linked = spawnSync('cp', ['-al', '--', source, appDir], { encoding: 'utf8' });
      if (linked.status !== 0) throw new Error(`cp -al ${source}: ${linked.stderr}`);
    } else {
      mkdirSync(appDir);
    }
    const skippedRuns: string[] = [];
    let workdir = '/app';
    const appPath = (path: string): string => {
      const absolute = posix.resolve(workdir, path);
      if (absolute !== '/app' && !absolute.startsWith('/app/')) {
        throw new Error(`stage ${stage.name}: ${path} is outside /app; the image test models only /app`);
      }
      return join(appDir, posix.relative('/app', absolute));
    };
    // A stage built FROM another starts with its environment; one FROM an image starts empty here (the
    // base image's own ENV, PATH and the like, comes from the sandbox).
    const env = parent ? stageEnv(dockerfile, parent.name) : new Map<string, string>();
    for (const instruction of stage.instructions) {
      const keyword = instruction.getKeyword();
      if (keyword === 'WORKDIR') {
        workdir = posix.resolve(workdir, instruction.getArgumentsContent() ?? '/');
        if (workdir !== '/app') throw new Error(`stage ${stage.name}: WORKDIR ${workdir}; the image test models only /app`);
      } else if (keyword === 'ENV') {
        for (const [k, v] of envOf(instruction)) env.set(k, substitute(v, new Map([...dockerfile.args, ...env])));
      } else if (keyword === 'COPY') {
        if (!(instruction instanceof Copy)) throw new Error(`stage ${stage.name}: COPY not parsed as COPY`);
        const unsupported = instruction.getFlags().filter((f) => f.getName() !== 'from');
        if (unsupported.length > 0) throw new Error(`stage ${stage.name}: COPY --${unsupported[0]!.getName()} is not modelled by the image test`);
        const from = instruction.getFromFlag()?.getValue() ?? undefined;
        const paths = instruction.getArguments().map((a) => a.getValue());
        const dest = paths.pop() ?? '';
        const sourceRoot = from === undefined ? contextDir : (await this.build(from)).appDir;
        for (const source of paths) {
          let sourcePath: string;
          if (from === undefined) {
            sourcePath = join(contextDir, source);
          } else {
            if (!source.startsWith('/app/'))
              throw new Error(`stage ${stage.name}: COPY --from=${from} ${source} is outside /app; the image test models only /app`);
            sourcePath = join(sourceRoot, source.slice('/app/'.length));
          }
          if (!existsSync(sourcePath))
            throw new Error(`stage ${stage.name}: COPY ${source}: not in ${from === undefined ? 'the build context (.dockerignore)' : `stage ${from}`}`);
          const target = appPath(dest);
          if (statSync(sourcePath).isDirectory()) {
            // COPY dir dest copies the directory's contents into dest.
            mkdirSync(target, { recursive: true });
            copyInto(`${sourcePath}/.`, target);
          } else {
            const intoDir = dest.endsWith('/') || paths.length > 1 || (existsSync(target) && statSync(target).isDirectory());
            mkdirSync(intoDir ? target : join(target, '..'), { recursive: true });
            copyInto(sourcePath, intoDir ? join(target, basename(sourcePath)) : target);
          }
        }
      } else if (keyword === 'RUN') {
        const script = runScript(instruction);
        if (this.opts.skip?.(stage, script)) skippedRuns.push(script);
        else await this.opts.run(stage, script, new Map(env), appDir);
      }
    }
    return { appDir, skippedRuns };
  }
}
