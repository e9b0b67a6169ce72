import type { ModelServiceReference } from './references.js';

/** A Helm value: JSON, where any leaf may be a reference to a model service (resolved to a string by synth). */
export type HelmValue = string | number | boolean | null | ModelServiceReference | readonly HelmValue[] | { readonly [key: string]: HelmValue };

/** A kind a companion deploys, as the AppProject's namespaceResourceWhitelist names it. */
export interface CompanionKind {
  /** API group; '' for the core group. */
  readonly group: string;
  readonly kind: string;
}

/** A published Helm chart, rendered by Argo CD's repo server from its chart repository. */
export interface HelmCompanionSource {
  readonly kind: 'helm';
  /** Chart repository URL (`helm repo add` form), https only; synth adds it to the AppProject's sourceRepos. */
  readonly repoURL: string;
  /** Chart name in that repository. */
  readonly chart: string;
  /**
   * Exact chart version (`1.15.1`): a range (`1.*`, `^1.15`) would let the repository change what is deployed
   * without a commit here, so synth refuses it.
   */
  readonly version: string;
  /** @default the companion's name — the Helm release name, hence the prefix of the chart's object names. */
  readonly releaseName?: string;
  /** Chart values; model service references anywhere in them are resolved to strings. @default {} — the chart's defaults */
  readonly values?: { readonly [key: string]: HelmValue };
  /**
   * Every kind the chart renders with these values. Synth cannot render a chart offline, so the kinds are
   * declared: the AppProject admits exactly these (Argo CD refuses a sync with any other: "resource ... is not
   * permitted in project"). Required: there is no safe default.
   */
  readonly renders: readonly CompanionKind[];
  /**
   * Labels of the chart's pods that call model services (as its templates set them), checked against each
   * referenced model service's NetworkPolicy (rule `companion-reaches-model`).
   * @default none — no pod of the chart calls a model service, so a reference in `values` is refused
   */
  readonly callerPodLabels?: Readonly<Record<string, string>>;
}

/** Plain manifests committed in this repository, synthesized into dist/<env>/companions/<name>/ with references resolved. */
export interface ManifestsCompanionSource {
  readonly kind: 'manifests';
  /** Repository-relative directory of `.yaml` files (one level, like Argo CD's directory source), e.g. `companions/research/agent`. */
  readonly path: string;
  /**
   * Env vars to set, by container name, then variable name: a literal or a model service reference. A container
   * name no workload of the manifests has fails synth. @default none
   */
  readonly env?: Readonly<Record<string, Readonly<Record<string, string | ModelServiceReference>>>>;
}

/** A workload that is not a model service, deployed with the environment and pointed at its model services. */
export interface CompanionDeclaration {
  readonly source: HelmCompanionSource | ManifestsCompanionSource;
  /**
   * When its Argo CD Application syncs relative to the environment's model services (the app-of-apps sync
   * waves): `before-models` (a database the models' clients need) or `after-models` (a client of the models).
   * Required: the order is a decision about the system, not a default.
   */
  readonly order: 'before-models' | 'after-models';
  /**
   * Synth rules the companion's own pods are exempt from (`image-pinned`, `pod-security-standard-met`), each with a
   * written reason; `companion-reaches-model` is a finding of the model service and is waived there. @default none
   */
  readonly waivers?: Readonly<Record<string, string>>;
}
