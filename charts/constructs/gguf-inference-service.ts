import { ApiObject, Chart } from 'cdk8s';
import type { IPodSpec } from 'kubernetes-models/v1';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { defaultPrometheus } from '../clusters/prometheus.js';
import { planInferenceService, type InferenceServicePlan } from '../sizing/plan.js';
import { syncWave, waves } from '../lib/argocd.js';
import { serviceLabels } from '../lib/labels.js';
import { defaultTargetCapacityFraction, InferenceAutoscaling } from './autoscaling.js';
import { InferenceDeployment } from './inference-deployment.js';
import { disruptionBudgetFor, InferenceDisruptionBudget } from './disruption-budget.js';
import { defaultIngressController, InferenceExposure, ingressControllers, servicePort } from './exposure.js';
import { ModelCache } from './model-cache.js';
import { InferenceMonitoring } from './monitoring.js';
import { InferenceNetworkPolicy } from './network-policy.js';
import { PodSecurityPolicyGrant } from './pod-security-policy.js';
import type { InferenceServiceProps } from './props.js';
import { defaultKedaHttpAddOn, heldRequestsTrigger, ScaleToZeroRoute } from './scale-to-zero.js';
import { failoverResponderName } from './scale-to-zero-failover.js';
import { failoverResponder } from '../../service/contract.js';

/**
 * One GGUF model served over an OpenAI-compatible API: every Kubernetes object it needs,
 * sized from the model's catalogue entry. Composes small constructs; derived figures come
 * from `planInferenceService` so the summary, the rules and the manifests agree.
 */
export class GgufInferenceService extends Construct {
  readonly plan: InferenceServicePlan;
  readonly deployment: kplus.Deployment;
  readonly service: kplus.Service;

  constructor(scope: Construct, name: string, props: InferenceServiceProps) {
    super(scope, name);
    this.plan = planInferenceService(name, props);
    const plan = this.plan;
    const namespace = Chart.of(this).namespace;
    if (namespace === undefined)
      throw new Error(
        `${props.definedIn}: ${props.environment}/${name}: the chart has no namespace. Fix: create GgufInferenceService inside an EnvironmentChart.`,
      );
    const labels = serviceLabels(name, props.environment, props.model.id);
    const prometheus = props.prometheus ?? defaultPrometheus;

    const serviceAccount = new kplus.ServiceAccount(this, 'service-account', {
      metadata: { name, labels: labels.all, annotations: syncWave(waves.prerequisites) },
      automountToken: false,
    });
    const cache = new ModelCache(this, 'model-cache', plan, labels.all);
    const workload = new InferenceDeployment(this, 'workload', { plan, labels, serviceAccount, modelCache: cache.volume });
    this.deployment = workload.deployment;
    if (props.podSecurityPolicy === true) {
      const deployment = ApiObject.of(this.deployment);
      new PodSecurityPolicyGrant(this, 'pod-security-policy', {
        policyName: `${namespace}-${name}`,
        name: `${name}-psp`,
        labels: labels.all,
        serviceAccountName: name,
        namespace,
        podSpec: () => (deployment.toJson() as { spec: { template: { spec: IPodSpec } } }).spec.template.spec,
      });
    }

    // Scale to zero: clients and the Ingress reach the model through the KEDA HTTP add-on's interceptor.
    const addOn = props.kedaHttpAddOn ?? defaultKedaHttpAddOn;
    const route = plan.scaleToZero
      ? new ScaleToZeroRoute(this, 'scale-to-zero', {
          name,
          namespace,
          labels: labels.all,
          servicePort,
          plan: plan.scaleToZero,
          maxReplicas: props.autoscaling?.maxReplicas ?? 1,
          targetConcurrency: Math.ceil((plan.parallel + plan.maxQueue) * (props.autoscaling?.targetCapacityFraction ?? defaultTargetCapacityFraction)),
          ...(plan.exposure.kind === 'ingress' ? { ingressHost: plan.exposure.host } : {}),
          addOn,
          // The environment runs one responder for all its services that scale to zero (environment-chart.ts).
          failover: { service: failoverResponderName, port: failoverResponder.port },
        })
      : undefined;

    const exposure = new InferenceExposure(this, 'exposure', {
      name,
      labels: labels.all,
      selector: labels.selector,
      exposure: plan.exposure,
      // A held request sends nothing for the whole hold before its answer starts.
      idleTimeoutSeconds: plan.scaleToZero?.pathIdleTimeoutSeconds ?? plan.timeouts.idleTimeoutSeconds,
      ...(route ? { ingressBackend: route.interceptorService } : {}),
      ...(props.ingressController !== undefined ? { ingressController: props.ingressController } : {}),
      where: { file: props.definedIn, object: `${props.environment}/${name}` },
    });
    this.service = exposure.service;

    new InferenceDisruptionBudget(this, 'disruption-budget', {
      name,
      budget: disruptionBudgetFor(props.overrides?.disruptionBudget, props.kubernetesVersion),
      labels: labels.all,
      selector: labels.selector,
    });
    const ingressFromLoadBalancer =
      plan.exposure.kind === 'ingress' && ingressControllers[props.ingressController ?? defaultIngressController]?.trafficFrom === 'load-balancer';
    new InferenceNetworkPolicy(this, 'network-policy', {
      name,
      labels: labels.all,
      selector: labels.selector,
      clientNamespaces: [
        ...(props.allowedClientNamespaces ?? []),
        ...(plan.exposure.kind === 'ingress' && !ingressFromLoadBalancer ? [props.ingressControllerNamespace ?? 'ingress-nginx'] : []),
        // The interceptor forwards every request of a service that scales to zero.
        ...(route ? [addOn.namespace] : []),
      ],
      monitoringNamespace: props.monitoringNamespace ?? prometheus.namespace,
      // A cloud load balancer (a load-balancer Service, or an ALB Ingress in IP mode) sends client traffic
      // straight to the pods from its own addresses, not from a pod in the cluster.
      allowFromAnywhere: plan.exposure.kind === 'load-balancer' || ingressFromLoadBalancer,
    });
    if (props.autoscaling) {
      new InferenceAutoscaling(this, 'autoscaling', {
        name,
        namespace,
        labels: labels.all,
        target: this.deployment,
        plan,
        autoscaling: props.autoscaling,
        prometheus,
        ...(props.queueMetricsVia !== undefined ? { queueMetricsVia: props.queueMetricsVia } : {}),
        ...(plan.scaleToZero ? { wake: { trigger: heldRequestsTrigger(name, addOn), idleAfterSeconds: plan.scaleToZero.idleAfterSeconds } } : {}),
      });
    }
    if (props.monitoring ?? true) {
      new InferenceMonitoring(this, 'monitoring', {
        name,
        namespace,
        labels: labels.all,
        serviceSelector: labels.selector,
        slowTimeToFirstTokenSeconds: plan.slowTimeToFirstTokenSeconds,
        slowEmbeddingRequestSeconds: plan.slowEmbeddingRequestSeconds,
        progressDeadlineSeconds: plan.progressDeadlineSeconds,
        prometheus,
      });
    }
  }
}
