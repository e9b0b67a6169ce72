import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { parse } from 'yaml';

/** The add-on's own CRD as kept in crds/ (kedacore/http-add-on config/crd/bases/, crds/SOURCES.md). */
const crd = parse(readFileSync(fileURLToPath(new URL('../../crds/http.keda.sh_httpscaledobjects.yaml', import.meta.url)), 'utf8')) as {
  spec: { versions: Array<{ name: string; schema: { openAPIV3Schema: object } }> };
};
const validateJson = new Ajv({ allErrors: true, strict: false }).compile(crd.spec.versions.find((v) => v.name === 'v1alpha1')!.schema.openAPIV3Schema);

/**
 * Validate one HTTPScaledObject (http.keda.sh/v1alpha1) offline against the CRD's structural schema, plus the CEL
 * rule a JSON schema cannot express (`x-kubernetes-validations` on scaleTargetRef and coldStartTimeoutFailoverRef:
 * "must define either the 'portName' or the 'port'"); throws with every complaint.
 */
export class HttpScaledObjectModel {
  constructor(private readonly data: unknown) {}

  validate(): void {
    const problems: string[] = [];
    if (!validateJson(this.data)) problems.push(...(validateJson.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`));
    const spec = (this.data as { spec?: Record<string, Record<string, unknown> | undefined> }).spec ?? {};
    for (const ref of ['scaleTargetRef', 'coldStartTimeoutFailoverRef']) {
      const r = spec[ref];
      if (r !== undefined && 'port' in r === 'portName' in r) problems.push(`/spec/${ref} must define either the 'portName' or the 'port'`);
    }
    if (problems.length > 0) throw new Error(`HTTPScaledObject: ${problems.join('; ')}`);
  }
}
