import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { defaultPort } from '../../service/contract.js';
import { syncWave, waves } from '../lib/argocd.js';

export interface InferenceNetworkPolicyProps {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly selector: Record<string, string>;
  /** Namespaces (besides the pod's own) whose pods may call the API. */
  readonly clientNamespaces: readonly string[];
  /** Namespace of the Prometheus that scrapes /metrics. */
  readonly monitoringNamespace: string;
  /** True when a cloud load balancer forwards client traffic straight to the pods. */
  readonly allowFromAnywhere: boolean;
}

const byName = (ns: string): kplus.k8s.NetworkPolicyPeer => ({
  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
});

/**
 * Default-deny for the inference pods, then: the API port from the own namespace, listed client
 * namespaces and the monitoring namespace; egress only to DNS and HTTPS (the model download).
 */
export class InferenceNetworkPolicy extends Construct {
  constructor(scope: Construct, id: string, props: InferenceNetworkPolicyProps) {
    super(scope, id);
    const port: kplus.k8s.NetworkPolicyPort = { port: kplus.k8s.IntOrString.fromNumber(defaultPort), protocol: 'TCP' };
    const from: kplus.k8s.NetworkPolicyPeer[] = props.allowFromAnywhere
      ? [{ ipBlock: { cidr: '0.0.0.0/0' } }]
      : [{ podSelector: {} }, ...props.clientNamespaces.map(byName), byName(props.monitoringNamespace)];
    new kplus.k8s.KubeNetworkPolicy(this, 'policy', {
      metadata: { name: props.name, labels: props.labels, annotations: syncWave(waves.prerequisites) },
      spec: {
        podSelector: { matchLabels: props.selector },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [{ from, ports: [port] }],
        egress: [
          {
            to: [byName('kube-system')],
            ports: [
              { port: kplus.k8s.IntOrString.fromNumber(53), protocol: 'UDP' },
              { port: kplus.k8s.IntOrString.fromNumber(53), protocol: 'TCP' },
            ],
          },
          // Model download (Hugging Face and its CDN): HTTPS only.
          { to: [{ ipBlock: { cidr: '0.0.0.0/0' } }], ports: [{ port: kplus.k8s.IntOrString.fromNumber(443), protocol: 'TCP' }] },
        ],
      },
    });
  }
}
