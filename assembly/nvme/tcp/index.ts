// The NVMe/TCP transport's public surface (the exports in assembly/app/nvmf-tcp-exports.ts use it).
export { tcpCreate, tcpDestroy, tcpLimitsProblem } from "./lifecycle";
export { tcpListen, tcpUnlisten } from "./listener";
export { tcpStats, STATS_RECORD_BYTES, STATS_FIELDS } from "./stats";
export { sockWireFill } from "./sock-wire";
export { TcpOptions } from "./group";
export { TcpWire } from "./types";
