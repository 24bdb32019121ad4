// Logical volumes' public surface: the lvol bdev over a blob. Lvstore and lvol names, uuids and
// lookups live in the host (host/lvol.ts) as xattrs on the blobs.
export { lvolBdevCreate, lvolBdevResized, isLvolBdev, lvolBlob, lvolError, lvolFreeze, lvolUnfreeze } from "./bdev";
export { lvolDetach } from "./detach";
