// Size classes of the heap: pure arithmetic, checked exhaustively over every small size.
import { sizeClassOf, classPayloadBytes, SMALL_MAX_BYTES, CLASS_COUNT } from "../../assembly/runtime/sizeclass";

describe("sizeClassOf", () => {
  it("maps every size to the smallest class that holds it", () => {
    for (let size: usize = 0; size <= SMALL_MAX_BYTES; size++) {
      const c = sizeClassOf(size);
      expect(c).toBeLessThan(CLASS_COUNT);
      expect(classPayloadBytes(c)).toBeGreaterThanOrEqual(size);
      if (c > 0) expect(classPayloadBytes(c - 1)).toBeLessThan(size);
    }
  });

  it("has payloads that are multiples of 16 and strictly increasing", () => {
    for (let c: u32 = 0; c < CLASS_COUNT; c++) {
      expect(classPayloadBytes(c) & 15).toBe(0);
      if (c > 0) expect(classPayloadBytes(c)).toBeGreaterThan(classPayloadBytes(c - 1));
    }
    expect(classPayloadBytes(CLASS_COUNT - 1)).toBe(SMALL_MAX_BYTES);
  });

  it("wastes less than a quarter above 128 bytes", () => {
    for (let size: usize = 129; size <= SMALL_MAX_BYTES; size++) {
      const waste = classPayloadBytes(sizeClassOf(size)) - size;
      expect(<f64>waste / <f64>size).toBeLessThan(0.25);
    }
  });
});
