import type { KedaHttpAddOnProfile, LoadBalancerKind, NodePool, PrometheusProfile } from '../clusters/types.js';
import type { ServiceKind } from '../../service/contract.js';
import type { ModelSpec } from '../models/catalogue.js';

/** NVIDIA GPUs for a service. Without this block the service runs on CPU only. */
export interface GpuProps {
  /** Whole GPUs per pod (`nvidia.com/gpu` limit). Required; fractions do not exist for this resource. */
  readonly count: number;
  /** Memory of one GPU in GiB (24 for an A10G or L4). The model's weights and KV cache must fit; synth fails otherwise. */
  readonly memoryGiB: number;
  /**
   * Node labels that select GPU nodes.
   * @default { 'nvidia.com/gpu.present': 'true' } — set by NVIDIA GPU feature discovery on every GPU node.
   */
  readonly nodeSelector?: Readonly<Record<string, string>>;
  /**
   * Taint key carried by GPU nodes, tolerated with effect NoSchedule.
   * @default 'nvidia.com/gpu' — the taint managed GPU node groups (EKS, GKE, AKS) put on GPU nodes.
   */
  readonly taintKey?: string;
}

/** Where the model file lives inside the pod. There is no default: a wrong guess is a Pending PVC. */
export type ModelCacheProps =
  | {
      readonly kind: 'persistentVolumeClaim';
      /**
       * Storage class of the cache PVC. Required and explicit: relying on the cluster's default class
       * (or one whose CSI driver is not installed) leaves the PVC Pending and the pod unscheduled.
       */
      readonly storageClassName: string;
      /**
       * @default 'ReadWriteOnce' — one node mounts it; forces the Recreate strategy and a single replica,
       * because a second pod on another node cannot attach the volume (Multi-Attach error).
       * 'ReadWriteMany' (EFS, Filestore, Azure Files) allows several replicas and rolling updates.
       */
      readonly accessMode?: 'ReadWriteOnce' | 'ReadWriteMany';
      /** @default ceil(1.2 x model file size) GiB — room for the file and its verification sidecar, never too small for the download. */
      readonly sizeGiB?: number;
      /** Sustained read rate of the volume in MiB/s; sizes the startup probe. @default 125 — the baseline of an AWS gp3 volume. */
      readonly readMiBps?: number;
    }
  | {
      readonly kind: 'emptyDir';
      /** @default ceil(1.2 x model file size) GiB — the emptyDir `sizeLimit`, matched by an ephemeral-storage request so the kubelet never evicts the pod mid-download. */
      readonly sizeGiB?: number;
      /** Sustained read rate of the node's disk in MiB/s. @default 200 — a local NVMe or gp3 root volume with headroom. */
      readonly readMiBps?: number;
    };

/** How clients reach the service. */
export type ExposureProps =
  | { readonly kind: 'cluster-ip' }
  | {
      readonly kind: 'load-balancer';
      /**
       * What implements the Service, matching the cluster profile's `loadBalancer.kind` (rule `exposure-supported`).
       * Its annotations: AWS NLB listener attribute and classic ELB idle timeout; none for GCP (a passthrough NLB
       * has no idle timeout); the address pool for MetalLB and AKO (`avi`); nothing for kube-vip, whose pool is
       * chosen by namespace. See `loadBalancerImplementations` in charts/constructs/exposure.ts.
       */
      readonly provider: LoadBalancerKind;
      /**
       * For the cloud load balancers: an internal one. MetalLB, kube-vip and AKO have no such switch (the pool's
       * addresses decide who can reach it), so it is not read for them.
       * @default true — an internal load balancer; public exposure of an unauthenticated model is a choice to make explicitly.
       */
      readonly internal?: boolean;
      /**
       * The address pool to draw the Service's address from: a MetalLB IPAddressPool (annotation
       * `metallb.io/address-pool`) or an AKO AviInfraSetting (annotation `aviinfrasetting.ako.vmware.com/name`).
       * Refused for the other providers (kube-vip picks its pool by the Service's namespace).
       * @default none — MetalLB then tries every pool with autoAssign, AKO uses the cloud's default VIP network
       */
      readonly addressPool?: string;
    }
  | {
      readonly kind: 'ingress';
      /** Host name served by the ingress. */
      readonly host: string;
      /**
       * IngressClass name; any class the cluster profile has (`exposure-supported`). Its controller decides the
       * timeout annotations: ingress-nginx proxy timeouts, an ALB's idle-timeout attribute, none for controllers
       * configured elsewhere (Traefik, HAProxy; `ingress-controller-supported`).
       * @default 'nginx' — ingress-nginx; its proxy timeouts and buffering are set from the request timeout.
       */
      readonly className?: string;
      /** TLS secret for the host. @default none (TLS terminated elsewhere) */
      readonly tlsSecretName?: string;
      /**
       * For a controller that provisions a cloud load balancer per Ingress (ALB): an internal one.
       * @default true — an internal load balancer, as for `load-balancer` exposure.
       */
      readonly internal?: boolean;
      /**
       * Extra annotations on the Ingress, merged with the ones the construct sets (e.g. cert-manager's
       * `cert-manager.io/cluster-issuer`). One that would replace a construct-managed annotation (the
       * ingress-nginx proxy timeouts, buffering and body size derived from the request timeout) fails synth,
       * and a cert-manager annotation needs cert-manager on the cluster and `tlsSecretName` (rule
       * `ingress-annotations-served`). @default none
       */
      readonly annotations?: Readonly<Record<string, string>>;
    };

export interface AutoscalingProps {
  /**
   * Fewest pods. Required: no default fits both a one-pod dev service and a fleet. 0 (scale to zero) is
   * refused unless the cluster has a component that holds requests while a pod loads (rule `scale-to-zero-held`).
   */
  readonly minReplicas: number;
  /** Most pods; the quota and node-capacity rules are checked at this count. Required. */
  readonly maxReplicas: number;
  /**
   * What the autoscaler scales on. Required to be chosen explicitly (rule `autoscaling-signal-chosen`):
   * - `queue`: a KEDA ScaledObject on the service's own load, busy sequences plus queued requests
   *   (`llm_busy_sequences` + `llm_queue_depth`) against the pod's capacity (PARALLEL + MAX_QUEUE);
   *   needs KEDA on the cluster (rule `queue-autoscaling-needs-keda`).
   * - `cpu`: an autoscaling/v2 HPA on CPU utilisation, reported as a warning: one generating request already
   *   pins every thread, so CPU reads near 100 % at any load above zero and says nothing about the queue.
   * @default none — an autoscaler without a chosen signal is refused rather than guessed.
   */
  readonly signal?: 'queue' | 'cpu';
  /**
   * `queue` only: the share of one pod's capacity (PARALLEL + MAX_QUEUE) the autoscaler keeps each pod at.
   * @default 0.5 — half the queue stays free to absorb arrivals while a new pod loads its model.
   */
  readonly targetCapacityFraction?: number;
  /** `cpu` only. @default 70 — inference pins its threads while generating, so sustained CPU use tracks busy sequences. */
  readonly targetCpuUtilizationPercent?: number;
}

/** A duration as `idleAfter` takes it: whole seconds, minutes or hours (`90s`, `10m`, `1h`). */
export type IdleDuration = `${number}${'s' | 'm' | 'h'}`;

/**
 * Scale to zero through the KEDA HTTP add-on (charts/constructs/scale-to-zero.ts): clients call the add-on's
 * interceptor, which holds a request while the first pod loads the model, and the service's queue autoscaler
 * (`autoscaling`, which must then have `minReplicas: 0` and `signal: 'queue'`) wakes on the held request.
 */
export interface ScaleToZeroProps {
  /**
   * How long the service must see no request before its last pod is removed (the ScaledObject's
   * `cooldownPeriod`). Required: idle cost against the first caller's wait is the team's choice, and a default
   * would decide it for them. At least the HPA's 300 s scale-down window, so a short pause never costs a reload.
   */
  readonly idleAfter: IdleDuration;
}

/** Everything that describes one GGUF inference service. */
export interface InferenceServiceProps {
  /** Environment name (staging, production): part of labels and error messages. */
  readonly environment: string;
  /** Repository-relative file that defines this service, named in synth errors. */
  readonly definedIn: string;
  /** The catalogue entry of the model to serve. */
  readonly model: ModelSpec;
  /** Container image with an immutable reference: a version tag or a digest, never `latest`. */
  readonly image: string;
  /**
   * Names of `kubernetes.io/dockerconfigjson` Secrets in the namespace that the kubelet pulls `image` with, on the
   * pod (so the init container uses them too). Filled from the environment's `imagePullSecrets`.
   * @default none — the registry is public or the nodes' own credentials reach it.
   */
  readonly imagePullSecrets?: readonly string[];
  /** @default 1 — one pod per model is the usual start; more need a ReadWriteMany or emptyDir cache. */
  readonly replicas?: number;
  /** Tokens of context per sequence (CONTEXT_SIZE). @default min(4096, model.trainedContext) — enough for chat, cheap in KV cache. */
  readonly contextSize?: number;
  /** Sequences decoded in parallel in one context (PARALLEL). @default 2 — two users share a pod with little per-token slowdown on CPU. Chat only: an embedding context has one sequence. */
  readonly parallel?: number;
  /**
   * Tokens per evaluation batch (BATCH_SIZE). @default 512 — llama.cpp's default; sizes the logits buffer. An
   * embedding service: contextSize — its encoder evaluates a whole input in one batch (rule `embedding-batch-holds-input`).
   */
  readonly batchSize?: number;
  /**
   * CPU cores requested; also the inference thread count (THREADS, via the downward API).
   * No CPU limit is set: a CFS quota throttles every thread of a batch and slows decoding many times over.
   * @default 2
   */
  readonly cpu?: number;
  /** NVIDIA GPUs; omit for a CPU-only service. @default none */
  readonly gpu?: GpuProps;
  /** Where the model is cached. Required: there is no safe default storage class. */
  readonly modelCache: ModelCacheProps;
  /** Download rate assumed for the first model fetch, MiB/s; sizes `progressDeadlineSeconds`. @default 25 */
  readonly downloadMiBps?: number;
  /**
   * Longest request the service allows (REQUEST_TIMEOUT_MS). @default 300 on CPU, 120 on GPU — long CPU answers take
   * minutes; an embedding service: the smallest of `pathIdleTimeoutsSeconds` and 60 — its answer is one body nothing keeps alive.
   */
  readonly requestTimeoutSeconds?: number;
  /** Requests waiting beyond the busy sequences before 429 (MAX_QUEUE). @default 4 x parallel */
  readonly maxQueue?: number;
  /** Largest `max_tokens` a request may ask for (MAX_COMPLETION_LENGTH). @default 2048 */
  readonly maxCompletionLength?: number;
  /** @default { kind: 'cluster-ip' } — in-cluster clients only. */
  readonly exposure?: ExposureProps;
  /**
   * Idle timeouts on the client's path that this service cannot set (a cluster load balancer, a proxy).
   * The SSE keep-alive interval stays below all of them.
   * @default [60] — the common cloud load balancer default.
   */
  readonly pathIdleTimeoutsSeconds?: readonly number[];
  /** Horizontal autoscaling; when set `spec.replicas` is omitted and Argo CD ignores it. @default none */
  readonly autoscaling?: AutoscalingProps;
  /**
   * Scale to zero pods when idle, with the first request held (not refused) until a pod is Ready; needs the KEDA
   * HTTP add-on on the cluster (rule `scale-to-zero-add-on-installed`). @default none — the service keeps
   * `autoscaling.minReplicas` (or `replicas`) pods at all times: a first caller never waits for a model load
   */
  readonly scaleToZero?: ScaleToZeroProps;
  /**
   * The cluster's KEDA HTTP add-on, whose interceptor a `scaleToZero` service is routed through. Environments fill
   * it from the cluster profile. @default none (a `scaleToZero` service is then routed to namespace `keda`, the
   * chart's documented one, and refused by rule `scale-to-zero-add-on-installed`)
   */
  readonly kedaHttpAddOn?: KedaHttpAddOnProfile;
  /** @default true — ServiceMonitor and PrometheusRule for the prometheus-operator. */
  readonly monitoring?: boolean;
  /** Alert when the p90 time to first token exceeds this. @default 10 s on CPU, 2 s on GPU */
  readonly slowTimeToFirstTokenSeconds?: number;
  /**
   * Hugging Face access for an `hf:` model source: `tokenSecret` (HF_TOKEN, from a Secret) for gated or
   * private repositories, `endpoint` (HF_ENDPOINT) for a mirror. Both reach the init container and the server.
   * @default none — the public hub, anonymously.
   */
  readonly huggingFace?: {
    /** Secret and key holding the token. @default none */
    readonly tokenSecret?: { readonly name: string; readonly key: string };
    /** Base URL of a hub mirror, e.g. `https://hf-mirror.internal`. @default https://huggingface.co (the service's default) */
    readonly endpoint?: string;
  };
  /** Secret holding the API key (Bearer token for /v1/*). @default none — the NetworkPolicy is the only gate. */
  readonly apiKeySecret?: { readonly name: string; readonly key: string };
  /**
   * Browser origins allowed to call the API across origins (CORS_ORIGINS, e.g. `['https://chat.example.com']`),
   * or `['*']` for any. @default none — no CORS headers: in-cluster and server-side clients need none, and a
   * browser page on another origin should be allowed by name.
   */
  readonly corsOrigins?: readonly string[];
  /** Namespaces (by name) whose pods may call the API, besides this namespace. @default [] */
  readonly allowedClientNamespaces?: readonly string[];
  /** Namespace of the Prometheus that scrapes /metrics. @default the `prometheus` namespace — where the cluster's Prometheus runs */
  readonly monitoringNamespace?: string;
  /**
   * The cluster's Prometheus: its selector labels go on the ServiceMonitor and PrometheusRule, or it never loads them.
   * Environments fill it from the cluster profile. @default kube-prometheus-stack released as `kube-prometheus-stack` in `monitoring`
   */
  readonly prometheus?: PrometheusProfile;
  /**
   * The target cluster's Kubernetes version (gitVersion or `1.NN`); fields it does not serve are left out
   * (PodDisruptionBudget `unhealthyPodEvictionPolicy` below 1.27). Environments fill it from the cluster profile.
   * @default the newest minor the repository is tested against (`testedKubernetesMinor`), so every field is emitted
   */
  readonly kubernetesVersion?: string;
  /**
   * Namespace the ingress controller of `exposure.className` runs in; the NetworkPolicy admits it. Environments fill
   * it from the cluster profile. @default `ingress-nginx` — the ingress-nginx chart's documented namespace
   */
  readonly ingressControllerNamespace?: string;
  /**
   * `spec.controller` of the IngressClass `exposure.className` names; decides the Ingress's timeout annotations
   * and whether the NetworkPolicy admits a controller namespace or the load balancer's addresses. Environments
   * fill it from the cluster profile. @default `k8s.io/ingress-nginx`
   */
  readonly ingressController?: string;
  /** Seconds preStop waits before SIGTERM reaches the service. @default 5 */
  readonly preStopSeconds?: number;
  /** @default 3 — enough to roll back; more only clutters `kubectl get rs`. */
  readonly revisionHistoryLimit?: number;
  /** Escape hatches; each stays subject to the synth rules. @default none */
  readonly overrides?: ServiceOverrides;
  /**
   * Synth rules this service is exempt from, by rule id, each with the written reason that the
   * synth output repeats. @default none
   */
  readonly waivers?: Readonly<Record<string, string>>;
  /**
   * Where the pods may and should run: tolerations, node selector and affinity, a capacity-type preference,
   * priority, runtime class and topology spread (charts/constructs/scheduling.ts). GPU services keep the GPU
   * node selector and toleration from `gpu`; these add to them. @default none beyond what `gpu` implies, and a
   * zone and node spread once the service can run more than one pod
   */
  readonly scheduling?: SchedulingProps;
  /**
   * The target cluster's node pools: a capacity-type preference is built from the labels they carry, never from a
   * cloud's label typed here. Environments fill it from the cluster profile. @default none (then `scheduling.capacityType`
   * adds no affinity and the rule `capacity-type-available` says so)
   */
  readonly nodePools?: readonly NodePool[];
  /**
   * What the service serves (SERVICE_KIND): `chat` (generation: /v1/chat/completions, /v1/completions) or
   * `embedding` (/v1/embeddings through one embedding context: no generation KV, one input per batch, no
   * streams, so PARALLEL, MAX_COMPLETION_LENGTH and SSE keep-alive do not apply and are refused).
   * @default derived from the model: `embedding` when its catalogue entry has an `embedding` block, else
   * `chat` — what a model can serve is a fact of the model; a value that contradicts it fails synth
   * (rule `service-kind-matches-model`).
   */
  readonly serviceKind?: ServiceKind;
  /**
   * What reads the queue signal (`autoscaling.signal: 'queue'`): a KEDA ScaledObject, or an autoscaling/v2 HPA on
   * the per-pod metric prometheus-adapter serves (docs/autoscaling.md has the adapter rule). Environments fill it
   * from the cluster profile: KEDA when it lists KEDA's ScaledObject, else prometheus-adapter when it lists an
   * adapter for `custom.metrics.k8s.io`. @default 'keda'
   */
  readonly queueMetricsVia?: 'keda' | 'prometheus-adapter';
  /**
   * The cluster enforces PodSecurityPolicy (Kubernetes 1.24 and older, `podSecurityPolicyAdmission` in the
   * profile): a PodSecurityPolicy read off the pod template, with a Role and RoleBinding letting the service
   * account use it, is generated (charts/constructs/pod-security-policy.ts). Environments fill it from the
   * cluster profile. @default false — no policy/v1beta1 object, which 1.25 and later do not serve
   */
  readonly podSecurityPolicy?: boolean;
}

/** A probe's timing, as the kubelet takes it. */
export interface ProbeTimingOverride {
  readonly path?: string;
  readonly periodSeconds?: number;
  readonly failureThreshold?: number;
  readonly timeoutSeconds?: number;
  readonly initialDelaySeconds?: number;
}

/**
 * Escape hatches for what the construct otherwise derives. Each one is a way to reintroduce a known
 * incident, so every synthesized result is still checked by the synth rules (charts/rules/), and an
 * override that breaks one fails `npm run synth` unless that rule is waived with a reason.
 */
export interface ServiceOverrides {
  /**
   * @default derived (charts/sizing/rollout.ts): Recreate with a ReadWriteOnce cache (one pod may mount it);
   * RollingUpdate maxSurge 0 / maxUnavailable 1 with GPUs (no spare GPU for a surge pod, the other replicas keep
   * serving); else RollingUpdate maxSurge 1 / maxUnavailable 0 (nothing stops serving). 'RollingUpdate' here
   * always means maxSurge 1 / maxUnavailable 0 (rule rollout-surge-fits checks the surge pod fits)
   */
  readonly strategy?: 'Recreate' | 'RollingUpdate';
  /** `false` removes the startup probe. @default derived from the model load time */
  readonly startupProbe?: ProbeTimingOverride | false;
  readonly readinessProbe?: ProbeTimingOverride;
  /** @default GET /health/live every 10 s, timeout 5 s, 6 failures */
  readonly livenessProbe?: ProbeTimingOverride & { readonly exec?: readonly string[] };
  /** @default maxUnavailable 1 at every replica count, AlwaysAllow — one pod may go, never more, and a loading pod never blocks a drain */
  readonly disruptionBudget?: {
    readonly minAvailable?: number;
    readonly maxUnavailable?: number;
    readonly unhealthyPodEvictionPolicy?: 'AlwaysAllow' | 'IfHealthyBudget';
  };
  /** CPU limit in cores. @default none */
  readonly cpuLimit?: number;
  /** @default the model estimate (charts/sizing/memory.ts) */
  readonly memoryRequestMiB?: number;
  /** @default equal to the memory request */
  readonly memoryLimitMiB?: number;
  /** Ephemeral-storage request and limit in whole GiB. @default 1, or the emptyDir cache size + 1 */
  readonly ephemeralStorageGiB?: number;
  /** A fixed THREADS value instead of the CPU request via the downward API. @default none */
  readonly threads?: number;
  /** @default preStop + request timeout + drain margin */
  readonly terminationGracePeriodSeconds?: number;
  /** @default pod start allowance + download time + startup window */
  readonly progressDeadlineSeconds?: number;
  /** 0 disables SSE keep-alive comments. @default min(15, smallest idle timeout / 4) */
  readonly sseKeepAliveSeconds?: number;
  readonly securityContext?: {
    readonly runAsNonRoot?: boolean;
    readonly readOnlyRootFilesystem?: boolean;
    readonly allowPrivilegeEscalation?: boolean;
    readonly dropAllCapabilities?: boolean;
  };
}

/** A toleration as the pod spec takes it. */
export interface TolerationProps {
  /** Taint key; omitted with operator `Exists` it tolerates every taint. @default none */
  readonly key?: string;
  /** @default 'Equal' when a value is given, else 'Exists' — a key-only toleration matches any value of the taint. */
  readonly operator?: 'Exists' | 'Equal';
  /** Taint value, with operator `Equal`. @default none */
  readonly value?: string;
  /** @default every effect — a toleration without an effect matches NoSchedule, PreferNoSchedule and NoExecute. */
  readonly effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

/** One node-selector requirement (`matchExpressions` entry). */
export interface NodeSelectorRequirementProps {
  readonly key: string;
  readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';
  /** Required for In/NotIn (one or more) and Gt/Lt (exactly one integer); absent for Exists/DoesNotExist. @default none */
  readonly values?: readonly string[];
}

/** Node affinity: hard requirements and weighted preferences. */
export interface NodeAffinityProps {
  /**
   * Terms ORed together, expressions within a term ANDed (`requiredDuringSchedulingIgnoredDuringExecution`).
   * The rule `pod-fits-node-pool` counts only pools whose labels satisfy them. @default none
   */
  readonly required?: ReadonlyArray<{ readonly matchExpressions: readonly NodeSelectorRequirementProps[] }>;
  /** Weighted preferences (weight 1-100), summed per node by the scheduler. @default none */
  readonly preferred?: ReadonlyArray<{ readonly weight: number; readonly matchExpressions: readonly NodeSelectorRequirementProps[] }>;
}

/** How strictly replicas are spread over one topology domain. */
export type SpreadPolicy = 'ScheduleAnyway' | 'DoNotSchedule' | 'off';

/** Scheduling props of one service (charts/constructs/scheduling.ts renders them). */
export interface SchedulingProps {
  /** Tolerations added to the GPU toleration (`gpu.taintKey`). @default none — the pod lands only on untainted pools */
  readonly tolerations?: readonly TolerationProps[];
  /** Node labels the pod requires, merged with `gpu.nodeSelector`. @default none */
  readonly nodeSelector?: Readonly<Record<string, string>>;
  /** @default none */
  readonly nodeAffinity?: NodeAffinityProps;
  /**
   * Capacity type to prefer: a preferred node-affinity term (weight 100) on the capacity-type labels of the
   * cluster's pools of that type, plus tolerations for those pools' taints. A preference, so the other type is
   * the fallback when no preferred node has room: `spot` runs on spot nodes and falls back to on-demand.
   * @default none — no preference; the scheduler places pods by its own scoring
   */
  readonly capacityType?: 'spot' | 'on-demand';
  /** PriorityClass of the pods; checked against the profile's `priorityClassNames` when it lists them. @default none (the cluster's global default, usually priority 0) */
  readonly priorityClassName?: string;
  /**
   * RuntimeClass of the pods, e.g. `nvidia` for GPU pods where the NVIDIA container runtime is not containerd's
   * default (the GPU Operator creates that class); checked against the profile's `runtimeClassNames`.
   * @default none — the node's default runtime
   */
  readonly runtimeClassName?: string;
  /**
   * Topology spread of the service's pods once it can run more than one (replicas or autoscaling.maxReplicas > 1),
   * maxSkew 1 in each domain. @default { zones: 'ScheduleAnyway', nodes: 'ScheduleAnyway' } — spread across
   * `topology.kubernetes.io/zone` and `kubernetes.io/hostname` when possible, never left Pending for it
   */
  readonly topologySpread?: { readonly zones?: SpreadPolicy; readonly nodes?: SpreadPolicy };
}
