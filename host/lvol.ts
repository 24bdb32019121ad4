// Logical volumes (SPDK's lvol library): an lvstore is a blobstore whose super blob carries the
// store's name and uuid; each lvol is a blob carrying its own, served as a bdev named by its uuid with
// the alias "lvs/lvol". Everything is on disk in xattrs, so lvstores are found again when their bdev
// appears (examine) and survive restarts. All changes go through one queue per engine: lvol
// operations are metadata work on the md thread anyway, and one at a time keeps names consistent.
import type { Engine } from './engine.js';
import type { BlobStore, BlobHandle } from './blobstore.js';
import { writeCoreString } from './core-abi.js';
import { WstorError } from './errors.js';
import { shown } from './size.js';

const MiB = 1 << 20;
/** SPDK's default lvstore cluster size. */
export const DEFAULT_LVS_CLUSTER_BYTES = 4 * MiB;
/** Longest lvstore or lvol name (SPDK's SPDK_LVS_NAME_MAX / SPDK_LVOL_NAME_MAX less the NUL). */
export const LVOL_NAME_MAX = 63;
const NAME = 'name', UUID = 'uuid';

export interface LvstoreInfo {
  uuid: string; name: string; baseBdev: string; totalDataClusters: number; freeClusters: number;
  blockSize: number; clusterSize: number;
}

export interface LvolInfo {
  /** The bdev's name (the lvol's uuid). */
  uuid: string; name: string; alias: string; lvs: { name: string; uuid: string; baseBdev: string; clusterSize: number };
  sizeBytes: number; allocatedBytes: number; thin: boolean; snapshot: boolean; clone: boolean; readOnly: boolean;
  /** The alias of the snapshot a clone reads through. */
  parent?: string; clones: string[];
}

interface Lvstore { uuid: string; name: string; base: string; store: BlobStore; superBlob: bigint; lvols: Map<string, Lvol> }
interface Lvol { uuid: string; name: string; blob: BlobHandle; bdevId: number; lvs: Lvstore }

const decoder = new TextDecoder();

function checkName(name: unknown, what: string): string {
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.:-]+$/.test(name) || name.length > LVOL_NAME_MAX) {
    throw new WstorError('EINVAL', `${what} "${String(name)}" must be 1-${LVOL_NAME_MAX} characters of letters, digits and _ . : -`);
  }
  return name;
}

export class LvolApi {
  private readonly stores = new Map<string, Lvstore>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly engine: Engine) {
    engine.bdev.onCreated((bdev) => this.serial(() => this.examine(bdev)));
    engine.bdev.onRemoving((bdev) => this.baseRemoving(bdev));
  }

  /** Run one change at a time (names and the set of lvols stay consistent between awaits). */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  // ---- lookups ----

  private lvstore(sel: { uuid?: string; name?: string }): Lvstore {
    if (sel.uuid === undefined && sel.name === undefined) throw new WstorError('EINVAL', 'give the lvstore by uuid or by lvs_name');
    for (const lvs of this.stores.values()) {
      if ((sel.uuid === undefined || lvs.uuid === sel.uuid) && (sel.name === undefined || lvs.name === sel.name)) return lvs;
    }
    throw new WstorError('ENODEV', `no lvstore ${sel.uuid ?? sel.name}`);
  }

  /** An lvol by its bdev name (uuid) or alias "lvs/lvol". */
  private lvol(name: string): Lvol {
    for (const lvs of this.stores.values()) {
      for (const l of lvs.lvols.values()) if (l.uuid === name || `${lvs.name}/${l.name}` === name) return l;
    }
    throw new WstorError('ENODEV', `no lvol ${name} (give its uuid or "lvs/lvol")`);
  }

  private nameFree(lvs: Lvstore, name: string): void {
    for (const l of lvs.lvols.values()) if (l.name === name) throw new WstorError('EEXIST', `lvstore ${lvs.name} already has an lvol named ${name}`);
  }

  // ---- lvstores ----

  /** A new lvstore on `bdev` (everything on it is lost). Resolves with its uuid. */
  createLvstore(bdev: string, name: string, opts: { clusterSize?: number } = {}): Promise<string> {
    return this.serial(async () => {
      checkName(name, 'lvstore name');
      for (const lvs of this.stores.values()) if (lvs.name === name) throw new WstorError('EEXIST', `an lvstore named ${name} already exists`);
      const store = await this.engine.blobstore.init(bdev, { clusterSize: opts.clusterSize ?? DEFAULT_LVS_CLUSTER_BYTES });
      const uuid = globalThis.crypto.randomUUID();
      const superBlob = await store.create({ size: 0, xattrs: { [NAME]: name, [UUID]: uuid } });
      await store.setSuperBlob(superBlob);
      this.stores.set(uuid, { uuid, name, base: bdev, store, superBlob, lvols: new Map() });
      return uuid;
    });
  }

  /** Examine: if `bdev` holds an lvstore, load it and serve its lvols. Bdevs without one are left alone. */
  private async examine(bdev: string): Promise<void> {
    // A bdev another module claimed (a pass-through on it) is that module's: not looked at.
    if (!this.engine.bdev.exists(bdev) || this.engine.bdev.info(bdev).claimed) return;
    let store: BlobStore | undefined;
    try {
      store = await this.engine.blobstore.probe(bdev);
    } catch (err) {
      // Claimed by another module, damaged, unreadable: not ours to serve. Say so only when it looked like one.
      if ((err as WstorError).code !== 'EPERM') this.engine.log('warn', `examine ${bdev}: ${(err as Error).message}`);
      return;
    }
    if (!store) return;
    const superBlob = store.superBlob;
    let meta: { name: string; uuid: string } | undefined;
    try {
      meta = superBlob === undefined ? undefined : await this.readNames(store, superBlob);
    } catch (err) {
      if ((err as WstorError).code !== 'EIO') throw err;
      this.engine.log('error', `examine ${bdev}: the lvstore's super blob cannot be opened (${(err as Error).message}): not loaded`);
      await store.unload();
      return;
    }
    if (superBlob === undefined || !meta) { await store.unload(); return; }  // a blobstore, not an lvstore
    if (this.stores.has(meta.uuid) || [...this.stores.values()].some((l) => l.name === meta.name)) {
      this.engine.log('error', `examine ${bdev}: lvstore ${meta.name} (${meta.uuid}) is already loaded from another bdev; not loading it twice`);
      await store.unload();
      return;
    }
    const lvs: Lvstore = { uuid: meta.uuid, name: meta.name, base: bdev, store, superBlob, lvols: new Map() };
    this.stores.set(lvs.uuid, lvs);
    for (const id of store.ids()) {
      if (id === superBlob) continue;
      let blob: BlobHandle;
      try {
        blob = await store.open(id);
      } catch (err) {
        // A blob the load refused (its md is damaged): its lvol is not served, the others are.
        if ((err as WstorError).code !== 'EIO') throw err;
        this.engine.log('error', `examine ${bdev}: lvstore ${meta.name}: blob ${id} is not served: ${(err as Error).message}`);
        continue;
      }
      const names = await this.blobNames(blob);
      if (!names) { await blob.close(); continue; }     // a blob some other user of the store made
      try {
        await this.serve(lvs, blob, names.name, names.uuid);
      } catch (err) {
        this.engine.log('error', `examine ${bdev}: lvstore ${lvs.name}: not serving lvol ${names.name}: ${(err as Error).message}`);
        await blob.close();
      }
    }
    this.engine.log('notice', `lvstore ${lvs.name} (${lvs.uuid}) on ${bdev}: ${lvs.lvols.size} lvols`);
  }

  private async readNames(store: BlobStore, id: bigint): Promise<{ name: string; uuid: string } | undefined> {
    const blob = await store.open(id);
    try { return await this.blobNames(blob); } finally { await blob.close(); }
  }

  private async blobNames(blob: BlobHandle): Promise<{ name: string; uuid: string } | undefined> {
    const name = await blob.getXattr(NAME), uuid = await blob.getXattr(UUID);
    return name && uuid ? { name: decoder.decode(name), uuid: decoder.decode(uuid) } : undefined;
  }

  /** Put an open blob behind a bdev named by its uuid, aliased "lvs/lvol". */
  private async serve(lvs: Lvstore, blob: BlobHandle, name: string, uuid: string): Promise<Lvol> {
    if (this.engine.bdev.exists(uuid)) {
      throw new WstorError('EEXIST', `lvol ${lvs.name}/${name}: bdev ${this.engine.bdev.info(uuid).name} already has its uuid ${uuid}`);
    }
    const str = writeCoreString(this.engine.core, this.engine.memory, uuid);
    const core = this.engine.core;
    const bdevId = await this.engine.request(`creating the bdev of lvol ${lvs.name}/${name}`, (r) => core.bdev_lvol_create(r, str, blob.corePointer));
    const lvol: Lvol = { uuid, name, blob, bdevId, lvs };
    lvs.lvols.set(uuid, lvol);
    this.engine.bdev.adopt(bdevId, uuid, 'lvol', { aliases: [`${lvs.name}/${name}`], uuid });
    return lvol;
  }

  listLvstores(sel: { uuid?: string; name?: string } = {}): LvstoreInfo[] {
    const all = sel.uuid === undefined && sel.name === undefined ? [...this.stores.values()] : [this.lvstore(sel)];
    return all.map((l) => ({
      uuid: l.uuid, name: l.name, baseBdev: l.base, totalDataClusters: l.store.totalClusters, freeClusters: l.store.freeClusters,
      blockSize: l.store.ioUnitSize, clusterSize: l.store.clusterSize,
    }));
  }

  renameLvstore(oldName: string, newName: string): Promise<void> {
    return this.serial(async () => {
      const lvs = this.lvstore({ name: oldName });
      checkName(newName, 'lvstore name');
      if (newName === oldName) return;
      for (const l of this.stores.values()) if (l.name === newName) throw new WstorError('EEXIST', `an lvstore named ${newName} already exists`);
      const blob = await lvs.store.open(lvs.superBlob);
      try { await blob.setXattr(NAME, newName); await blob.sync(); } finally { await blob.close(); }
      for (const l of lvs.lvols.values()) this.engine.bdev.removeAlias(l.uuid, `${lvs.name}/${l.name}`);
      lvs.name = newName;
      for (const l of lvs.lvols.values()) this.engine.bdev.addAlias(l.uuid, `${newName}/${l.name}`);
    });
  }

  /** Take in the clusters its bdev grew by (after bdev_uring_rescan / bdev_null_resize). */
  growLvstore(sel: { uuid?: string; name?: string }): Promise<number> {
    return this.serial(() => this.lvstore(sel).store.grow());
  }

  /**
   * Delete an lvstore and every lvol in it; refused (EBUSY) while any of its lvols is open (a
   * controller or another bdev uses it). The bdev keeps an empty blobstore with no lvstore on it.
   */
  deleteLvstore(sel: { uuid?: string; name?: string }): Promise<void> {
    return this.serial(async () => {
      const lvs = this.lvstore(sel);
      for (const l of lvs.lvols.values()) this.checkUnused(l);
      for (const l of lvs.lvols.values()) await this.unserve(l);
      // Clones before their snapshots: delete the blobs nothing reads through first.
      let left = lvs.store.ids().filter((id) => id !== lvs.superBlob);
      while (left.length > 0) {
        const parents = new Set<bigint>();
        for (const id of left) { const b = await lvs.store.open(id); if (b.parent !== undefined) parents.add(b.parent); await b.close(); }
        const leaves = left.filter((id) => !parents.has(id));
        for (const id of leaves) await lvs.store.delete(id);
        left = left.filter((id) => parents.has(id));
      }
      await lvs.store.setSuperBlob(undefined);
      await lvs.store.delete(lvs.superBlob);
      await lvs.store.unload();
      this.stores.delete(lvs.uuid);
    });
  }

  /**
   * The bdev under an lvstore is being deleted (SPDK's hot remove of an lvstore's base): its lvol bdevs
   * are removed, each let go of even while a user keeps it open (that user's I/O fails from now on), and
   * the store is unloaded cleanly, so the delete can finish and the store loads clean again.
   */
  private async baseRemoving(bdev: string): Promise<void> {
    if (![...this.stores.values()].some((l) => l.base === bdev)) return;
    await this.serial(async () => {
      for (const lvs of [...this.stores.values()].filter((l) => l.base === bdev)) {
        this.engine.log('notice', `lvstore ${lvs.name} (${lvs.uuid}): its bdev ${bdev} is being deleted: removing its ${lvs.lvols.size} lvols, unloading it`);
        for (const l of [...lvs.lvols.values()]) await this.detach(l);
        this.stores.delete(lvs.uuid);
        await lvs.store.unload();
      }
    });
  }

  /** Take an lvol off line for good, whoever has its bdev open: its bdev is removed, its blob closed. */
  private async detach(l: Lvol): Promise<void> {
    const core = this.engine.core as unknown as Record<string, (...a: number[]) => number>;
    await this.engine.request(`removing the bdev of lvol ${l.lvs.name}/${l.name}`, (r) => core.bdev_lvol_detach(r, l.bdevId));
    this.engine.bdev.disown(l.uuid);
    await l.blob.close();
    l.lvs.lvols.delete(l.uuid);
  }

  /** Close every lvol and unload every lvstore cleanly (the serve command's shutdown). */
  unloadAll(): Promise<void> {
    return this.serial(async () => {
      for (const lvs of this.stores.values()) {
        for (const l of lvs.lvols.values()) await this.unserve(l);
        await lvs.store.unload();
      }
      this.stores.clear();
    });
  }

  // ---- lvols ----

  private checkUnused(l: Lvol): void {
    const open = this.engine.bdev.info(l.uuid).openDescriptors;
    if (open > 0) throw new WstorError('EBUSY', `lvol ${l.lvs.name}/${l.name} is open (${open} descriptors): close what uses it first`);
  }

  /** Remove the lvol's bdev and close its blob (the blob stays). */
  private async unserve(l: Lvol): Promise<void> {
    await this.engine.bdev.delete(l.uuid);
    await l.blob.close();
    l.lvs.lvols.delete(l.uuid);
  }

  private async named(lvs: Lvstore, blobId: bigint, name: string): Promise<Lvol> {
    const blob = await lvs.store.open(blobId);
    const uuid = globalThis.crypto.randomUUID();
    try {
      await blob.setXattr(NAME, name);
      await blob.setXattr(UUID, uuid);
      await blob.sync();
    } catch (err) {
      await blob.close();
      throw err;
    }
    return this.serve(lvs, blob, name, uuid);
  }

  /** A new lvol of `sizeBytes` (rounded up to clusters). Resolves with its uuid (the bdev's name). */
  create(sel: { uuid?: string; name?: string }, name: string, sizeBytes: number, opts: { thin?: boolean } = {}): Promise<string> {
    return this.serial(async () => {
      const lvs = this.lvstore(sel);
      checkName(name, 'lvol name');
      this.nameFree(lvs, name);
      if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) throw new WstorError('EINVAL', `size ${shown(sizeBytes)} must be a positive number of bytes`);
      let id: bigint;
      try {
        id = await lvs.store.create({ size: sizeBytes, thin: opts.thin ?? false });
      } catch (err) {
        if ((err as WstorError).code !== 'ENOSPC') throw err;
        throw new WstorError('ENOSPC', `lvstore ${lvs.name} has no room for a ${sizeBytes}-byte lvol (${lvs.store.freeClusters} free clusters of ` +
          `${lvs.store.clusterSize} bytes; every lvol also takes a metadata page, one per cluster): free space, or grow the lvstore`, -28);
      }
      try {
        return (await this.named(lvs, id, name)).uuid;
      } catch (err) {
        await lvs.store.delete(id).catch(() => undefined);
        throw err;
      }
    });
  }

  /**
   * Run `change` on the lvol's blob map with its bdev's I/O held (snapshot and resize replace the
   * cluster map that I/O threads read): new I/O waits, what is in flight completes first.
   */
  private async frozen<T>(l: Lvol, change: () => Promise<T>): Promise<T> {
    const core = this.engine.core;
    await this.engine.request(`holding the I/O of lvol ${l.lvs.name}/${l.name}`, (r) => core.bdev_lvol_freeze(r, l.bdevId, 0));
    try {
      return await change();
    } finally {
      await this.engine.request(`releasing the I/O of lvol ${l.lvs.name}/${l.name}`, (r) => core.bdev_lvol_freeze(r, l.bdevId, 1));
    }
  }

  /** Snapshot lvol `name`: a read-only lvol `snapshotName` holding its data as of now. Resolves with its uuid. */
  snapshot(name: string, snapshotName: string): Promise<string> {
    return this.serial(async () => {
      const origin = this.lvol(name);
      checkName(snapshotName, 'snapshot name');
      this.nameFree(origin.lvs, snapshotName);
      const id = await this.frozen(origin, () => origin.blob.snapshot());
      return (await this.named(origin.lvs, id, snapshotName)).uuid;
    });
  }

  /** A thin clone of snapshot lvol `snapshot`, writable, named `cloneName`. Resolves with its uuid. */
  clone(snapshot: string, cloneName: string): Promise<string> {
    return this.serial(async () => {
      const snap = this.lvol(snapshot);
      if (!snap.blob.readOnly) throw new WstorError('EINVAL', `lvol ${snapshot} is not read-only: clone a snapshot (or set it read-only first)`);
      checkName(cloneName, 'clone name');
      this.nameFree(snap.lvs, cloneName);
      const id = await snap.lvs.store.clone(snap.blob.id);
      return (await this.named(snap.lvs, id, cloneName)).uuid;
    });
  }

  rename(name: string, newName: string): Promise<void> {
    return this.serial(async () => {
      const l = this.lvol(name);
      checkName(newName, 'lvol name');
      if (newName === l.name) return;
      this.nameFree(l.lvs, newName);
      await l.blob.setXattr(NAME, newName);
      await l.blob.sync();
      this.engine.bdev.removeAlias(l.uuid, `${l.lvs.name}/${l.name}`);
      l.name = newName;
      this.engine.bdev.addAlias(l.uuid, `${l.lvs.name}/${newName}`);
    });
  }

  /** New size in bytes (rounded up to clusters); the bdev follows and its users get a resize event. */
  resize(name: string, sizeBytes: number): Promise<void> {
    return this.serial(async () => {
      const l = this.lvol(name);
      if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) throw new WstorError('EINVAL', `size ${shown(sizeBytes)} must be a positive number of bytes`);
      if (l.blob.readOnly) throw new WstorError('EPERM', `lvol ${name} is read-only`);
      await this.frozen(l, async () => { await l.blob.resize(sizeBytes); await l.blob.sync(); });
      const core = this.engine.core;
      const rc = core.bdev_lvol_resized(l.bdevId);
      if (rc < 0) throw WstorError.fromErrno(rc, `resizing the bdev of lvol ${name}`);
    });
  }

  setReadOnly(name: string): Promise<void> {
    return this.serial(() => this.lvol(name).blob.setReadOnly());
  }

  inflate(name: string): Promise<void> { return this.serial(() => this.lvol(name).blob.inflate()); }

  decoupleParent(name: string): Promise<void> { return this.serial(() => this.lvol(name).blob.decouple()); }

  /**
   * Delete an lvol: refused while it is open (EBUSY) or while it is a snapshot with more than one
   * clone. A snapshot with one clone is folded into the clone, which must not be open either.
   */
  delete(name: string): Promise<void> {
    return this.serial(async () => {
      const l = this.lvol(name);
      this.checkUnused(l);
      const clones = [...l.lvs.lvols.values()].filter((c) => c !== l && c.blob.parent === l.blob.id);
      if (clones.length > 1) throw new WstorError('EBUSY', `snapshot ${name} has ${clones.length} clones: delete or inflate all but one first`);
      // The store folds a snapshot into its clone only while the clone is closed: take it off line
      // for the delete (it is unused, checked above) and put it back after.
      for (const c of clones) this.checkUnused(c);
      for (const c of clones) await this.unserve(c);
      try {
        await this.unserve(l);
        await l.lvs.store.delete(l.blob.id);
      } finally {
        for (const c of clones) await this.serve(c.lvs, await c.lvs.store.open(c.blob.id), c.name, c.uuid);
      }
    });
  }

  /** Every lvol (or those of one lvstore); its parent and clones found through maps, so listing is linear. */
  list(sel: { uuid?: string; name?: string } = {}): LvolInfo[] {
    const stores = sel.uuid === undefined && sel.name === undefined ? [...this.stores.values()] : [this.lvstore(sel)];
    const out: LvolInfo[] = [];
    for (const lvs of stores) {
      const byBlob = new Map<bigint, Lvol>();
      const clones = new Map<bigint, string[]>();
      for (const l of lvs.lvols.values()) {
        byBlob.set(l.blob.id, l);
        const parent = l.blob.parent;
        if (parent !== undefined) clones.set(parent, [...(clones.get(parent) ?? []), `${lvs.name}/${l.name}`]);
      }
      const store = { name: lvs.name, uuid: lvs.uuid, baseBdev: lvs.base, clusterSize: lvs.store.clusterSize };
      for (const l of lvs.lvols.values()) {
        const parent = l.blob.parent === undefined ? undefined : byBlob.get(l.blob.parent);
        const snapshot = l.blob.isSnapshot;
        out.push({
          uuid: l.uuid, name: l.name, alias: `${lvs.name}/${l.name}`, lvs: { ...store },
          sizeBytes: l.blob.size, allocatedBytes: l.blob.allocatedBytes, thin: l.blob.thin, snapshot,
          clone: parent !== undefined && !snapshot, readOnly: l.blob.readOnly,
          ...(parent ? { parent: `${lvs.name}/${parent.name}` } : {}),
          clones: clones.get(l.blob.id) ?? [],
        });
      }
    }
    return out;
  }
}
