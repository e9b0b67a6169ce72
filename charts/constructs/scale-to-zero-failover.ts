import { ApiObject, Duration, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { containerCommands, endpoints, failoverResponder, type FailoverRoute } from '../../service/contract.js';
import type { KedaHttpAddOnProfile } from '../clusters/types.js';
import { syncWave, waves } from '../lib/argocd.js';
import { pullPolicyFor } from '../lib/image.js';
import { partOf } from '../lib/labels.js';
import { containerSecurity, runAsUser } from './inference-deployment.js';
import { PodSecurityPolicyGrant } from './pod-security-policy.js';
import type { IPodSpec } from 'kubernetes-models/v1';
import type { InferenceServicePlan } from '../sizing/plan.js';

/**
 * The responder's name: its Deployment, Service and NetworkPolicy, and the chart (file) that holds them. A service
 * of that name would collide with it (charts/environment-chart.ts refuses one).
 */
export const failoverResponderName = 'scale-to-zero-failover';

/**
 * The responder's resources, measured: `node build/service/failover.js` peaked at 71.6 MiB resident (VmHWM) after
 * 2,000 answered requests on Node 20 (service/failover.ts, one log line each); the limit leaves a third above it.
 * CPU is a token request: it answers only requests whose cold start already ran out. Ephemeral storage: logs only.
 */
export const failoverResources = { cpuMillis: 10, memoryRequestMiB: 96, memoryLimitMiB: 128, ephemeralStorageMiB: 64 } as const;

export interface ScaleToZeroFailoverProps {
  /** The environment's namespace: the interceptor resolves the failover Service in the HTTPScaledObject's own namespace (pkg/routing, `<service>.<namespace>:<port>`). */
  readonly namespace: string;
  /** The environment's name, for the instance label. */
  readonly environment: string;
  /** The image: the service's own image carries the responder (`containerCommands.failover`), so nothing new is published. */
  readonly image: string;
  /** Pull secrets of the namespace's registry. @default none — a public registry */
  readonly imagePullSecrets?: readonly string[];
  /** One route per service that scales to zero: its routed hosts, model and Retry-After. At least one. */
  readonly routes: readonly FailoverRoute[];
  /** The cluster's KEDA HTTP add-on: its namespace is the only one the NetworkPolicy admits. */
  readonly addOn: KedaHttpAddOnProfile;
  /** Container security settings: the same as the model pods'. */
  readonly security: InferenceServicePlan['security'];
  /**
   * Grant the pod a PodSecurityPolicy (clusters up to 1.24 that enforce PSP admission), as the model services get.
   * @default false — Pod Security Admission (the namespace's `restricted` level) needs no grant
   */
  readonly podSecurityPolicy?: boolean;
}

/**
 * The failover responder of an environment's services that scale to zero: one Deployment of one pod running
 * `node build/service/failover.js` from the service image, a ClusterIP Service the HTTPScaledObjects'
 * `coldStartTimeoutFailoverRef` names, and a NetworkPolicy that admits only the add-on's interceptor.
 *
 * One replica and no PodDisruptionBudget: the responder only answers requests whose cold start already ran out, and
 * while it is briefly away (a rollout surges a new pod first; a node drain) such a request gets the interceptor's
 * 502 instead of the 503. A budget of one pod would block every drain of its node.
 */
export class ScaleToZeroFailover extends Construct {
  readonly deployment: kplus.Deployment;
  readonly service: kplus.Service;

  constructor(scope: Construct, id: string, props: ScaleToZeroFailoverProps) {
    super(scope, id);
    if (props.routes.length === 0) throw new Error('ScaleToZeroFailover needs at least one route (a service that scales to zero)');
    const selector = {
      'app.kubernetes.io/name': failoverResponderName,
      'app.kubernetes.io/instance': `${failoverResponderName}-${props.environment}`,
    };
    const labels = { ...selector, 'app.kubernetes.io/component': 'failover', 'app.kubernetes.io/part-of': partOf, 'app.kubernetes.io/managed-by': 'cdk8s' };
    const names = failoverResponder.envVars;

    // Its own account, without a token: the responder calls no API, and a PodSecurityPolicy grant binds to it.
    const serviceAccount = new kplus.ServiceAccount(this, 'service-account', {
      metadata: { name: failoverResponderName, labels, annotations: syncWave(waves.prerequisites) },
      automountToken: false,
    });
    this.deployment = new kplus.Deployment(this, 'deployment', {
      metadata: { name: failoverResponderName, labels, annotations: syncWave(waves.workload) },
      select: false,
      podMetadata: { labels },
      replicas: 1,
      strategy: kplus.DeploymentStrategy.rollingUpdate({ maxSurge: kplus.PercentOrAbsolute.absolute(1), maxUnavailable: kplus.PercentOrAbsolute.absolute(0) }),
      serviceAccount,
      automountServiceAccountToken: false,
      securityContext: { ensureNonRoot: true, user: runAsUser, group: runAsUser },
      isolate: false,
    });
    this.deployment.select(kplus.LabelSelector.of({ labels: selector }));
    const probe = (path: string): kplus.Probe =>
      kplus.Probe.fromHttpGet(path, {
        port: failoverResponder.healthPort,
        periodSeconds: Duration.seconds(10),
        failureThreshold: 3,
        timeoutSeconds: Duration.seconds(2),
      });
    this.deployment.addContainer({
      name: 'responder',
      image: props.image,
      imagePullPolicy: pullPolicyFor(props.image) === 'Always' ? kplus.ImagePullPolicy.ALWAYS : kplus.ImagePullPolicy.IF_NOT_PRESENT,
      command: [...containerCommands.failover],
      ports: [
        { number: failoverResponder.port, name: 'http', protocol: kplus.Protocol.TCP },
        { number: failoverResponder.healthPort, name: 'health', protocol: kplus.Protocol.TCP },
      ],
      envVariables: {
        [names.routes]: kplus.EnvValue.fromValue(JSON.stringify(props.routes)),
        [names.host]: kplus.EnvValue.fromValue('0.0.0.0'),
        [names.port]: kplus.EnvValue.fromValue(String(failoverResponder.port)),
        [names.healthPort]: kplus.EnvValue.fromValue(String(failoverResponder.healthPort)),
        [names.logLevel]: kplus.EnvValue.fromValue('info'),
      },
      securityContext: containerSecurity(props.security),
      resources: {
        cpu: { request: kplus.Cpu.millis(failoverResources.cpuMillis) },
        memory: { request: Size.mebibytes(failoverResources.memoryRequestMiB), limit: Size.mebibytes(failoverResources.memoryLimitMiB) },
      },
      readiness: probe(endpoints.ready),
      liveness: probe(endpoints.live),
    });
    const api = ApiObject.of(this.deployment);
    api.addJsonPatch(JsonPatch.add('/spec/revisionHistoryLimit', 3));
    api.addJsonPatch(JsonPatch.remove('/spec/template/metadata/labels/cdk8s.io~1metadata.addr'));
    // cdk8s-plus-28 writes ephemeral storage in whole GiB only; the responder writes nothing but its log.
    const storage = kplus.k8s.Quantity.fromString(`${failoverResources.ephemeralStorageMiB}Mi`);
    api.addJsonPatch(JsonPatch.add('/spec/template/spec/containers/0/resources/requests/ephemeral-storage', storage));
    api.addJsonPatch(JsonPatch.add('/spec/template/spec/containers/0/resources/limits/ephemeral-storage', storage));
    if ((props.imagePullSecrets ?? []).length > 0)
      api.addJsonPatch(
        JsonPatch.add(
          '/spec/template/spec/imagePullSecrets',
          (props.imagePullSecrets ?? []).map((name) => ({ name })),
        ),
      );

    if (props.podSecurityPolicy === true) {
      const deployment = ApiObject.of(this.deployment);
      new PodSecurityPolicyGrant(this, 'pod-security-policy', {
        policyName: `${props.namespace}-${failoverResponderName}`,
        name: `${failoverResponderName}-psp`,
        labels,
        serviceAccountName: failoverResponderName,
        namespace: props.namespace,
        podSpec: () => (deployment.toJson() as { spec: { template: { spec: IPodSpec } } }).spec.template.spec,
      });
    }

    this.service = new kplus.Service(this, 'service', {
      metadata: { name: failoverResponderName, labels, annotations: syncWave(waves.workload) },
      type: kplus.ServiceType.CLUSTER_IP,
      selector: this.deployment,
      ports: [{ name: 'http', port: failoverResponder.port, targetPort: failoverResponder.port, protocol: kplus.Protocol.TCP }],
    });
    ApiObject.of(this.service).addJsonPatch(JsonPatch.replace('/spec/selector', selector));

    const port = (n: number, protocol = 'TCP'): kplus.k8s.NetworkPolicyPort => ({ port: kplus.k8s.IntOrString.fromNumber(n), protocol });
    new kplus.k8s.KubeNetworkPolicy(this, 'network-policy', {
      metadata: { name: failoverResponderName, labels, annotations: syncWave(waves.prerequisites) },
      spec: {
        podSelector: { matchLabels: selector },
        policyTypes: ['Ingress', 'Egress'],
        // Only the interceptor forwards here. The kubelet's probes come from the node, which NetworkPolicy always
        // allows (kubernetes website content/en/docs/concepts/services-networking/network-policies.md).
        ingress: [
          { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': props.addOn.namespace } } }], ports: [port(failoverResponder.port)] },
        ],
        // The responder calls nothing.
        egress: [],
      },
    });
  }
}
