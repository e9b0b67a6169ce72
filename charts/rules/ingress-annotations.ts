import type { Rule } from './types.js';

/**
 * cert-manager's ingress-shim annotations (cert-manager pkg/apis/certmanager/v1 types.go
 * IngressClusterIssuerNameAnnotationKey / IngressIssuerNameAnnotationKey) and the kind each one names.
 */
export const certManagerIssuerAnnotations = {
  'cert-manager.io/cluster-issuer': 'ClusterIssuer',
  'cert-manager.io/issuer': 'Issuer',
} as const;

/** The API group of cert-manager's CRDs. */
export const certManagerGroup = 'cert-manager.io';

/** Rules on the extra annotations an ingress exposure carries; appended to the catalogue. */
export const ingressAnnotationRules: readonly Rule[] = [
  {
    id: 'ingress-annotations-served',
    severity: 'error',
    checks: `A cert-manager issuer annotation on the Ingress (${Object.keys(certManagerIssuerAnnotations).join(', ')}) only where the cluster profile lists cert-manager's ${certManagerGroup} CRDs (the issuer's kind and Certificate), and only on an Ingress with a TLS secret for its host: cert-manager's ingress-shim creates a Certificate per spec.tls entry that names a secretName, and nothing without one.`,
    why: "An Ingress annotated for cert-manager on a cluster without it served the ingress controller's self-signed default certificate for months, and one without tls.secretName never got a certificate at all: no error anywhere but an event on the Ingress.",
    fix: 'Install cert-manager (its Helm chart, with its CRDs) and capture the profile again (npm run cluster:capture), or remove the annotation; set exposure.tlsSecretName so cert-manager has a Secret to write.',
    check: (svc, env) => {
      const ingress = svc.ingress;
      if (!ingress) return [];
      const annotations = ingress.metadata.annotations ?? {};
      const installed = env.cluster.customResourceTypes ?? [];
      const out: { message: string; fix?: string }[] = [];
      for (const [key, kind] of Object.entries(certManagerIssuerAnnotations)) {
        const issuer = annotations[key];
        if (issuer === undefined) continue;
        const missing = [kind, 'Certificate'].filter((k) => !installed.some((c) => c.group === certManagerGroup && c.kind === k));
        if (missing.length > 0)
          out.push({
            message: `Ingress ${ingress.metadata.name} asks cert-manager for a certificate (${key}: ${issuer}), but cluster ${env.cluster.name} (profile ${env.cluster.definedIn}) has no ${missing.map((k) => `${k}.${certManagerGroup}`).join(' or ')} type: nothing issues it`,
          });
        // cert-manager pkg/controller/certificate-shim/sync.go buildCertificates: one Certificate per spec.tls entry with a secretName.
        const hosts = (ingress.spec.rules ?? []).map((r) => r.host).filter((h): h is string => h !== undefined);
        const covered = (ingress.spec.tls ?? []).filter((t) => t.secretName).flatMap((t) => t.hosts ?? []);
        const bare = hosts.filter((h) => !covered.includes(h));
        if (bare.length > 0)
          out.push({
            message: `Ingress ${ingress.metadata.name} has ${key}: ${issuer} but no TLS secret for ${bare.join(', ')}: cert-manager creates a Certificate only for a spec.tls entry with a secretName`,
            fix: `Set exposure.tlsSecretName in ${env.environment.definedIn} (cert-manager writes the certificate into that Secret).`,
          });
      }
      return out;
    },
  },
];
