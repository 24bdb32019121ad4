// Derived namespace identifiers (assembly/nvme/ns-ids.ts): stable for one configuration, different
// across subsystems, bdevs and NSIDs, and well-formed (UUID version/variant, EUI64 local unicast).
import { nsIdsDerive, NGUID_BYTES, EUI64_BYTES, UUID_BYTES } from "../../assembly/nvme/ns-ids";

function ascii(s: string): usize {
  const p = heap.alloc(s.length + 1);
  for (let i = 0; i < s.length; i++) store<u8>(p + i, <u8>s.charCodeAt(i));
  return p;
}

/** The 40 bytes nguid | eui64 | uuid for one configuration. */
function ids(subnqn: string, name: string, nsid: u32): usize {
  const out = heap.alloc(40);
  memory.fill(out, 0, 40);
  nsIdsDerive(out, out + 16, out + 24, ascii(subnqn), <u32>subnqn.length, ascii(name), <u32>name.length, nsid);
  return out;
}
function same(a: usize, b: usize, n: u32): bool { return memory.compare(a, b, n) == 0; }

describe("derived namespace ids", () => {
  it("are the same for the same subsystem, bdev and NSID (a restart names the same namespace)", () => {
    expect(same(ids("nqn.2016-06.io.spdk:cnode1", "Malloc0", 1), ids("nqn.2016-06.io.spdk:cnode1", "Malloc0", 1), 40)).toBe(true);
  });
  it("differ with the subsystem, the bdev, the NSID, and where the NQN ends and the name begins", () => {
    const base = ids("nqn.2016-06.io.spdk:cnode1", "Malloc0", 1);
    expect(same(base, ids("nqn.2016-06.io.spdk:cnode2", "Malloc0", 1), NGUID_BYTES)).toBe(false);
    expect(same(base, ids("nqn.2016-06.io.spdk:cnode1", "Malloc1", 1), NGUID_BYTES)).toBe(false);
    expect(same(base, ids("nqn.2016-06.io.spdk:cnode1", "Malloc0", 2), NGUID_BYTES)).toBe(false);
    expect(same(ids("nqn.2016-06.io.spdk:a", "bc", 1), ids("nqn.2016-06.io.spdk:ab", "c", 1), NGUID_BYTES)).toBe(false);
    expect(same(base + 16, ids("nqn.2016-06.io.spdk:cnode1", "Malloc0", 2) + 16, EUI64_BYTES)).toBe(false);
  });
  it("give a version 8, variant 10 UUID and a locally administered unicast EUI64, not a copy of the NGUID's start", () => {
    const p = ids("nqn.2016-06.io.spdk:cnode1", "Malloc0", 1);
    expect(load<u8>(p + 24 + 6) >> 4).toBe(8);
    expect(load<u8>(p + 24 + 8) >> 6).toBe(2);
    expect(load<u8>(p + 16) & 3).toBe(2);
    expect(same(p, p + 16, EUI64_BYTES)).toBe(false);
    expect(UUID_BYTES).toBe(16);
  });
});
