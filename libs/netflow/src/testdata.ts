/**
 * Test helper: where the shared real-world NetFlow/IPFIX corpus lives. It is read in place,
 * never copied into the repository: `FLEETNET_NETFLOW_CORPUS` when set, otherwise
 * `../shared/testdata/netflow` next to the checkout.
 */
export const SHARED_CORPUS = (
  process.env.FLEETNET_NETFLOW_CORPUS ??
  new URL("../../../../shared/testdata/netflow/", import.meta.url).pathname
).replace(/\/?$/, "/");
