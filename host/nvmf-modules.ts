// The NVMe-oF transport modules this build ships, registered by trtype when host/nvmf.ts is loaded.
// A new transport is a module with a factory and one line here.
import { registerNvmfTransport } from './nvmf-transports.js';
import { NvmfTcpTransport } from './nvmf-tcp.js';

registerNvmfTransport('TCP', NvmfTcpTransport.create);
