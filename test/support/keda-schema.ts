import { Ajv } from 'ajv';

/**
 * Offline schema for keda.sh/v1alpha1 ScaledObject, written from kedacore/keda
 * apis/keda/v1alpha1/scaledobject_types.go (ScaledObjectSpec, ScaleTarget, AdvancedConfig, Fallback) and
 * scaletriggers_types.go (ScaleTriggers: `type` required, `metadata` a map of strings). `@kubernetes-models/keda`
 * needs Node 22 and kubernetes-models 5, so it does not install here. Unknown fields are refused: the API server
 * prunes them from a structural CRD (or kubectl's strict field validation rejects them), so a misspelt
 * `cooldownPeriod` would silently fall back to KEDA's default.
 */
const int32 = { type: 'integer', minimum: 0, maximum: 2_147_483_647 } as const;
const hpaRules = {
  type: 'object',
  additionalProperties: false,
  properties: {
    stabilizationWindowSeconds: { type: 'integer', minimum: 0, maximum: 3600 },
    selectPolicy: { enum: ['Max', 'Min', 'Disabled'] },
    policies: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['type', 'value', 'periodSeconds'],
        properties: {
          type: { enum: ['Pods', 'Percent'] },
          value: { type: 'integer', minimum: 1 },
          periodSeconds: { type: 'integer', minimum: 1, maximum: 1800 },
        },
      },
    },
  },
} as const;

export const scaledObjectSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { const: 'keda.sh/v1alpha1' },
    kind: { const: 'ScaledObject' },
    metadata: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 } } },
    spec: {
      type: 'object',
      additionalProperties: false,
      required: ['scaleTargetRef', 'triggers'],
      properties: {
        scaleTargetRef: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: {
            name: { type: 'string', minLength: 1 },
            apiVersion: { type: 'string' },
            kind: { type: 'string' },
            envSourceContainerName: { type: 'string' },
          },
        },
        pollingInterval: int32,
        initialCooldownPeriod: int32,
        cooldownPeriod: int32,
        idleReplicaCount: int32,
        minReplicaCount: int32,
        maxReplicaCount: int32,
        advanced: {
          type: 'object',
          additionalProperties: false,
          properties: {
            restoreToOriginalReplicaCount: { type: 'boolean' },
            horizontalPodAutoscalerConfig: {
              type: 'object',
              additionalProperties: false,
              properties: {
                name: { type: 'string' },
                behavior: { type: 'object', additionalProperties: false, properties: { scaleUp: hpaRules, scaleDown: hpaRules } },
              },
            },
            scalingModifiers: { type: 'object' },
          },
        },
        triggers: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['type', 'metadata'],
            properties: {
              type: { type: 'string', minLength: 1 },
              name: { type: 'string' },
              useCachedMetrics: { type: 'boolean' },
              metricType: { enum: ['AverageValue', 'Value', 'Utilization'] },
              metadata: { type: 'object', additionalProperties: { type: 'string' } },
              authenticationRef: { type: 'object', required: ['name'], properties: { name: { type: 'string' }, kind: { type: 'string' } } },
            },
          },
        },
        fallback: {
          type: 'object',
          additionalProperties: false,
          required: ['failureThreshold', 'replicas'],
          properties: {
            failureThreshold: int32,
            replicas: int32,
            behavior: { enum: ['static', 'currentReplicas', 'currentReplicasIfHigher', 'currentReplicasIfLower'] },
          },
        },
      },
    },
  },
} as const;

const validateScaledObjectJson = new Ajv({ allErrors: true, strict: false }).compile(scaledObjectSchema);

/**
 * Validate one ScaledObject against the schema and the checks KEDA's admission webhook adds
 * (scaledobject_types.go CheckReplicaCountBoundsAreValid: min <= max, idle < min); throws with every complaint.
 */
export class ScaledObjectModel {
  constructor(private readonly data: unknown) {}

  validate(): void {
    const problems: string[] = [];
    if (!validateScaledObjectJson(this.data)) problems.push(...(validateScaledObjectJson.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`));
    else {
      const spec = (this.data as { spec: { minReplicaCount?: number; maxReplicaCount?: number; idleReplicaCount?: number } }).spec;
      // As KEDA computes them: unset min is 0; a set min counts as its HPA's (GetHPAMinReplicas: 0 becomes 1); unset max is 100.
      const min = spec.minReplicaCount === undefined ? 0 : Math.max(1, spec.minReplicaCount);
      const max = spec.maxReplicaCount ?? 100;
      if (min > max) problems.push(`/spec minReplicaCount ${min} must not exceed maxReplicaCount ${max}`);
      if (spec.idleReplicaCount !== undefined && spec.idleReplicaCount >= min)
        problems.push(`/spec idleReplicaCount ${spec.idleReplicaCount} must be less than minReplicaCount ${min}`);
    }
    if (problems.length > 0) throw new Error(`ScaledObject: ${problems.join('; ')}`);
  }
}
