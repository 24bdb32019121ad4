// wstor's Node API: the one entry point for embedding programs (the browser's is web/index.ts).
import './platform-node.js';        // Node is the default platform of engines started from here
export { Engine } from './engine.js';
export type { EngineOptions } from './engine.js';
export { WstorError } from './errors.js';
export type { Report, CoreEvent, ReactorStats, LevelName } from './core-abi.js';
export { parseCoreMask, parseCpuList } from './cpus.js';
export { BdevApi, IO_TYPES } from './bdev.js';
export type { BdevInfo, BdevStats, IoType, ErrorKind } from './bdev.js';
export { BlobstoreApi, BlobStore, BlobHandle } from './blobstore.js';
export { EngineBuffers, ENGINE_BUFFER_ALIGN } from './engine-buffers.js';
export type { InitOptions, LoadOptions, CreateOptions, BlobInfo } from './blobstore.js';
