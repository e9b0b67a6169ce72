/**
 * Typed references from a companion to a model service of its environment. A companion never types a model
 * service's URL, model id or API key Secret: it names the service, and synth resolves the reference from the
 * synthesized objects (the Service's port, the model's file name, the service's `apiKeySecret`), or fails naming
 * the companion, the field and the service.
 */

/** What a reference resolves to. */
export type ModelServiceAttribute =
  /** `http://<service>.<namespace>.svc:<port>`: the Service's in-cluster address. */
  | 'url'
  /** `url` + `/v1`: what OpenAI clients take as their base URL (OPENAI_BASE_URL, OPENAI_API_BASE_URL). */
  | 'openaiBaseUrl'
  /** The `model` id the service serves (GET /v1/models): its GGUF file name without `.gguf`. */
  | 'modelId'
  /** The API key itself, as an env var read from the service's `apiKeySecret` (`valueFrom.secretKeyRef`); env only. */
  | 'apiKey'
  /** The name of the service's `apiKeySecret`, for a Helm chart that reads a Secret by name. */
  | 'apiKeySecretName'
  /** The key in the service's `apiKeySecret`. */
  | 'apiKeySecretKey';

/** One unresolved reference: a value in a companion's env or Helm values that synth replaces. */
export class ModelServiceReference {
  constructor(
    /** The model service's name in the environment's `services`. */
    readonly service: string,
    readonly attribute: ModelServiceAttribute,
  ) {}

  toString(): string {
    return `ref.service('${this.service}').${this.attribute}`;
  }
}

/** The references to one model service, by attribute. */
export type ModelServiceRefs = { readonly [A in ModelServiceAttribute]: ModelServiceReference };

const attributes: readonly ModelServiceAttribute[] = ['url', 'openaiBaseUrl', 'modelId', 'apiKey', 'apiKeySecretName', 'apiKeySecretKey'];

/** `ref.service('chat').openaiBaseUrl`: references for companion env vars and Helm values. */
export const ref = {
  service(name: string): ModelServiceRefs {
    return Object.fromEntries(attributes.map((a) => [a, new ModelServiceReference(name, a)])) as unknown as ModelServiceRefs;
  },
};
