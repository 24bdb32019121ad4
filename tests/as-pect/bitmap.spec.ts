import { bitSet, bitClear, bitTest, bitFindClear, bitCount, bitmapBytes } from "../../assembly/blob/bitmap";

describe("bitmap", () => {
  it("sets, clears, counts and finds clear bits", () => {
    const bits: u64 = 100;
    const map = heap.alloc(bitmapBytes(bits));
    memory.fill(map, 0, bitmapBytes(bits));
    for (let i: u64 = 0; i < 20; i++) bitSet(map, i);
    bitSet(map, 99);
    expect(bitCount(map, bits)).toBe(21);
    expect(bitFindClear(map, 0, bits)).toBe(20);
    bitClear(map, 5);
    expect(bitFindClear(map, 0, bits)).toBe(5);
    expect(bitTest(map, 5)).toBe(false);
    expect(bitTest(map, 99)).toBe(true);
    for (let i: u64 = 0; i < bits; i++) bitSet(map, i);
    expect(bitFindClear(map, 0, bits)).toBe(-1);
    expect(bitCount(map, bits)).toBe(100);
  });
});
