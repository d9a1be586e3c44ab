/**
 * Information elements: the IANA IPFIX registry subset this decoder names and types, which is
 * also the NetFlow v9 field-type space for 1..127 (RFC 3954 and RFC 7011 share the numbers).
 * Anything not listed is still decoded — kept by number, value as hex — never rejected.
 */

/** How a field's bytes are rendered in {@link FlowRecord.fields}. */
export type IeKind =
  | "uint" // unsigned integer, any length 1..8 (reduced-size encoding allowed)
  | "ipv4"
  | "ipv6"
  | "mac"
  | "string"
  | "octets"
  | "dtSec" // dateTimeSeconds (absolute, seconds since the Unix epoch)
  | "dtMs" // dateTimeMilliseconds
  | "dtNtp" // dateTimeMicroseconds / Nanoseconds: NTP format (RFC 7011 §6.1.9)
  | "float";

/** Reverse-direction information elements (RFC 5103) use this private enterprise number. */
export const REVERSE_PEN = 29305;

const T: Record<number, [string, IeKind]> = {
  1: ["octetDeltaCount", "uint"],
  2: ["packetDeltaCount", "uint"],
  3: ["deltaFlowCount", "uint"],
  4: ["protocolIdentifier", "uint"],
  5: ["ipClassOfService", "uint"],
  6: ["tcpControlBits", "uint"],
  7: ["sourceTransportPort", "uint"],
  8: ["sourceIPv4Address", "ipv4"],
  9: ["sourceIPv4PrefixLength", "uint"],
  10: ["ingressInterface", "uint"],
  11: ["destinationTransportPort", "uint"],
  12: ["destinationIPv4Address", "ipv4"],
  13: ["destinationIPv4PrefixLength", "uint"],
  14: ["egressInterface", "uint"],
  15: ["ipNextHopIPv4Address", "ipv4"],
  16: ["bgpSourceAsNumber", "uint"],
  17: ["bgpDestinationAsNumber", "uint"],
  18: ["bgpNextHopIPv4Address", "ipv4"],
  19: ["postMCastPacketDeltaCount", "uint"],
  20: ["postMCastOctetDeltaCount", "uint"],
  21: ["flowEndSysUpTime", "uint"],
  22: ["flowStartSysUpTime", "uint"],
  23: ["postOctetDeltaCount", "uint"],
  24: ["postPacketDeltaCount", "uint"],
  25: ["minimumIpTotalLength", "uint"],
  26: ["maximumIpTotalLength", "uint"],
  27: ["sourceIPv6Address", "ipv6"],
  28: ["destinationIPv6Address", "ipv6"],
  29: ["sourceIPv6PrefixLength", "uint"],
  30: ["destinationIPv6PrefixLength", "uint"],
  31: ["flowLabelIPv6", "uint"],
  32: ["icmpTypeCodeIPv4", "uint"],
  33: ["igmpType", "uint"],
  34: ["samplingInterval", "uint"],
  35: ["samplingAlgorithm", "uint"],
  36: ["flowActiveTimeout", "uint"],
  37: ["flowIdleTimeout", "uint"],
  38: ["engineType", "uint"],
  39: ["engineId", "uint"],
  40: ["exportedOctetTotalCount", "uint"],
  41: ["exportedMessageTotalCount", "uint"],
  42: ["exportedFlowRecordTotalCount", "uint"],
  44: ["sourceIPv4Prefix", "ipv4"],
  45: ["destinationIPv4Prefix", "ipv4"],
  46: ["mplsTopLabelType", "uint"],
  47: ["mplsTopLabelIPv4Address", "ipv4"],
  48: ["samplerId", "uint"],
  49: ["samplerMode", "uint"],
  50: ["samplerRandomInterval", "uint"],
  51: ["classId", "uint"],
  52: ["minimumTTL", "uint"],
  53: ["maximumTTL", "uint"],
  54: ["fragmentIdentification", "uint"],
  55: ["postIpClassOfService", "uint"],
  56: ["sourceMacAddress", "mac"],
  57: ["postDestinationMacAddress", "mac"],
  58: ["vlanId", "uint"],
  59: ["postVlanId", "uint"],
  60: ["ipVersion", "uint"],
  61: ["flowDirection", "uint"],
  62: ["ipNextHopIPv6Address", "ipv6"],
  63: ["bgpNextHopIPv6Address", "ipv6"],
  64: ["ipv6ExtensionHeaders", "uint"],
  70: ["mplsTopLabelStackSection", "octets"],
  71: ["mplsLabelStackSection2", "octets"],
  72: ["mplsLabelStackSection3", "octets"],
  73: ["mplsLabelStackSection4", "octets"],
  74: ["mplsLabelStackSection5", "octets"],
  75: ["mplsLabelStackSection6", "octets"],
  76: ["mplsLabelStackSection7", "octets"],
  77: ["mplsLabelStackSection8", "octets"],
  78: ["mplsLabelStackSection9", "octets"],
  79: ["mplsLabelStackSection10", "octets"],
  80: ["destinationMacAddress", "mac"],
  81: ["postSourceMacAddress", "mac"],
  82: ["interfaceName", "string"],
  83: ["interfaceDescription", "string"],
  84: ["samplerName", "string"],
  85: ["octetTotalCount", "uint"],
  86: ["packetTotalCount", "uint"],
  88: ["fragmentOffset", "uint"],
  89: ["forwardingStatus", "uint"],
  90: ["mplsVpnRouteDistinguisher", "octets"],
  94: ["applicationDescription", "string"],
  95: ["applicationId", "octets"],
  96: ["applicationName", "string"],
  98: ["postIpDiffServCodePoint", "uint"],
  128: ["bgpNextAdjacentAsNumber", "uint"],
  129: ["bgpPrevAdjacentAsNumber", "uint"],
  130: ["exporterIPv4Address", "ipv4"],
  131: ["exporterIPv6Address", "ipv6"],
  132: ["droppedOctetDeltaCount", "uint"],
  133: ["droppedPacketDeltaCount", "uint"],
  136: ["flowEndReason", "uint"],
  137: ["commonPropertiesId", "uint"],
  138: ["observationPointId", "uint"],
  139: ["icmpTypeCodeIPv6", "uint"],
  140: ["mplsTopLabelIPv6Address", "ipv6"],
  141: ["lineCardId", "uint"],
  142: ["portId", "uint"],
  143: ["meteringProcessId", "uint"],
  144: ["exportingProcessId", "uint"],
  145: ["templateId", "uint"],
  148: ["flowId", "uint"],
  149: ["observationDomainId", "uint"],
  150: ["flowStartSeconds", "dtSec"],
  151: ["flowEndSeconds", "dtSec"],
  152: ["flowStartMilliseconds", "dtMs"],
  153: ["flowEndMilliseconds", "dtMs"],
  154: ["flowStartMicroseconds", "dtNtp"],
  155: ["flowEndMicroseconds", "dtNtp"],
  156: ["flowStartNanoseconds", "dtNtp"],
  157: ["flowEndNanoseconds", "dtNtp"],
  158: ["flowStartDeltaMicroseconds", "uint"],
  159: ["flowEndDeltaMicroseconds", "uint"],
  160: ["systemInitTimeMilliseconds", "dtMs"],
  161: ["flowDurationMilliseconds", "uint"],
  162: ["flowDurationMicroseconds", "uint"],
  176: ["icmpTypeIPv4", "uint"],
  177: ["icmpCodeIPv4", "uint"],
  178: ["icmpTypeIPv6", "uint"],
  179: ["icmpCodeIPv6", "uint"],
  180: ["udpSourcePort", "uint"],
  181: ["udpDestinationPort", "uint"],
  182: ["tcpSourcePort", "uint"],
  183: ["tcpDestinationPort", "uint"],
  192: ["ipTTL", "uint"],
  210: ["paddingOctets", "octets"],
  225: ["postNATSourceIPv4Address", "ipv4"],
  226: ["postNATDestinationIPv4Address", "ipv4"],
  227: ["postNAPTSourceTransportPort", "uint"],
  228: ["postNAPTDestinationTransportPort", "uint"],
  230: ["natEvent", "uint"],
  231: ["initiatorOctets", "uint"],
  232: ["responderOctets", "uint"],
  233: ["firewallEvent", "uint"],
  234: ["ingressVRFID", "uint"],
  235: ["egressVRFID", "uint"],
  236: ["VRFname", "string"],
  239: ["biflowDirection", "uint"],
  243: ["dot1qVlanId", "uint"],
  252: ["ingressPhysicalInterface", "uint"],
  253: ["egressPhysicalInterface", "uint"],
  256: ["ethernetType", "uint"],
  258: ["collectionTimeMilliseconds", "dtMs"],
  281: ["postNATSourceIPv6Address", "ipv6"],
  282: ["postNATDestinationIPv6Address", "ipv6"],
  298: ["initiatorPackets", "uint"],
  299: ["responderPackets", "uint"],
  302: ["selectorId", "uint"],
  304: ["selectorAlgorithm", "uint"],
  305: ["samplingPacketInterval", "uint"],
  306: ["samplingPacketSpace", "uint"],
  309: ["samplingSize", "uint"],
  310: ["samplingPopulation", "uint"],
  315: ["dataLinkFrameSection", "octets"],
  322: ["observationTimeSeconds", "dtSec"],
  323: ["observationTimeMilliseconds", "dtMs"],
  324: ["observationTimeMicroseconds", "dtNtp"],
  325: ["observationTimeNanoseconds", "dtNtp"],
  335: ["selectorName", "string"],
  351: ["layer2SegmentId", "uint"],
  352: ["layer2OctetDeltaCount", "uint"],
};

/** Name and rendering of an information element; unknown elements get `null`. */
export function ieInfo(id: number, pen: number): { name: string; kind: IeKind } | null {
  if (pen !== 0 && pen !== REVERSE_PEN) return null;
  const e = T[id];
  if (e === undefined) return null;
  if (pen === REVERSE_PEN) return { name: `reverse${e[0][0]?.toUpperCase()}${e[0].slice(1)}`, kind: e[1] };
  return { name: e[0], kind: e[1] };
}

/**
 * The key under which a field appears in {@link FlowRecord.fields}: the IANA name when known,
 * otherwise the number (`"400"`), or `"<pen>.<id>"` for enterprise-specific elements.
 */
export function fieldKey(id: number, pen: number): string {
  const info = ieInfo(id, pen);
  if (info !== null) return info.name;
  return pen === 0 ? String(id) : `${pen}.${id}`;
}
