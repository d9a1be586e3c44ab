/**
 * Host selection: which inventory hosts a `hosts:` selector picks.
 */
import type { HostSelector, InventoryHost, SelectorExpression } from "./schema.js";

function expressionHolds(e: SelectorExpression, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.hasOwn(labels, e.key);
  const value = labels[e.key];
  switch (e.operator) {
    case "In":
      return has && value !== undefined && (e.values ?? []).includes(value);
    case "NotIn":
      return !has || value === undefined || !(e.values ?? []).includes(value);
    case "Exists":
      return has;
    case "DoesNotExist":
      return !has;
  }
}

/** Whether one host matches a selector (names: by name; labels: all must match). */
export function hostMatches(selector: HostSelector, host: Pick<InventoryHost, "name" | "labels">): boolean {
  if ("names" in selector) return selector.names.includes(host.name);
  if ("matchLabels" in selector) {
    return Object.entries(selector.matchLabels).every(
      ([k, v]) => Object.hasOwn(host.labels, k) && host.labels[k] === v,
    );
  }
  return selector.matchExpressions.every((e) => expressionHolds(e, host.labels));
}

/**
 * The hosts a selector picks, in inventory order. A `names` selector returns hosts in the
 * inventory's order too (not the selector's), and silently omits names that are not in the
 * inventory — validation reports those as `UNKNOWN_HOST` before anyone plans.
 */
export function selectHosts<H extends Pick<InventoryHost, "name" | "labels">>(
  selector: HostSelector,
  hosts: readonly H[],
): H[] {
  return hosts.filter((h) => hostMatches(selector, h));
}
