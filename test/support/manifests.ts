/**
 * One entry point for a synthesised chart: each object goes to the custom resource
 * validator when a CRD in `shared/crds` defines its group, version and kind, and to the
 * built-in validator otherwise (which reports a kind it does not know as an error).
 */
import { loadCrds, validateCustomResource } from './crd-schema';
import { validateK8sObject } from './k8s-schema';

/** Validates one manifest, built-in or custom; one line per problem, empty when valid. */
export function validateManifest(obj: unknown): string[] {
  const o = (obj ?? {}) as { apiVersion?: unknown; kind?: unknown };
  const apiVersion = typeof o.apiVersion === 'string' ? o.apiVersion : '';
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
  // By group and kind, so that a custom resource in an unknown version still gets the
  // custom resource validator's "no schema" error rather than the built-in one.
  const custom = [...loadCrds().values()].some((c) => c.group === group && c.kind === o.kind);
  return custom ? validateCustomResource(obj) : validateK8sObject(obj);
}

/**
 * Fails the current jest test when any manifest is invalid, listing every problem of
 * every object (`Kind/name /path: message`). An empty list fails too.
 */
export function expectValidManifests(objs: readonly unknown[]): void {
  if (objs.length === 0) throw new Error('expectValidManifests: no objects to validate');
  const errors = objs.flatMap((o) => validateManifest(o));
  if (errors.length > 0) {
    throw new Error(
      `${errors.length} manifest error(s) in ${objs.length} object(s):\n  - ${errors.join('\n  - ')}`,
    );
  }
}
