// Operations that share a key run one at a time, in the order they were asked for; different keys run
// at once. The NVMe-oF control plane keys a subsystem's changes by its NQN and a listen socket's by
// its address, so a check made before an await still holds after it.
export class KeyedSerial {
  /** The last operation queued per key; a key leaves the map when its last operation ends. */
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, op: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    const result = before.then(op);
    const tail = result.then(() => undefined, () => undefined);
    this.tails.set(key, tail);
    void tail.then(() => { if (this.tails.get(key) === tail) this.tails.delete(key); });
    return result;
  }

  /** Keys with an operation queued or running (for tests: none once everything has ended). */
  get busyKeys(): number { return this.tails.size; }
}
