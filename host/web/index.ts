// wstor's browser API: the same Engine, bdev and blobstore promises as the Node entry (../index.ts),
// with the browser's platform as the default. Serve build/ cross-origin isolated (wstor web does).
import { setDefaultPlatform } from '../platform.js';
import { createWebPlatform } from '../platform-web.js';

setDefaultPlatform(() => createWebPlatform());

export { Engine } from '../engine.js';
export type { EngineOptions } from '../engine.js';
export { WstorError } from '../errors.js';
export type { Report, CoreEvent, ReactorStats, LevelName } from '../core-abi.js';
export { BdevApi, IO_TYPES } from '../bdev.js';
export type { BdevInfo, BdevStats, IoType, ErrorKind } from '../bdev.js';
export { BlobstoreApi, BlobStore, BlobHandle } from '../blobstore.js';
export { EngineBuffers, ENGINE_BUFFER_ALIGN } from '../engine-buffers.js';
export type { InitOptions, LoadOptions, CreateOptions, BlobInfo } from '../blobstore.js';
export { createWebPlatform } from '../platform-web.js';
export type { WebPlatformOptions } from '../platform-web.js';
export type { Platform } from '../platform.js';
