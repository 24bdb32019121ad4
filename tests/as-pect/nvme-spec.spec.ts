// NVMe spec structures (assembly/nvme/fabrics.ts, identify.ts): field offsets and sizes against the
// spec's figures, NQN validation, and the encoders (CAP, Connect refusal DW0, Get Log Page lengths).
import {
  nqnProblem, fieldLength, capValue, connectInvalidParamDw0, IATTR_DATA, IPO_HOSTNQN, IPO_SQSIZE, propertyBytes,
  PROP_CAP, PROP_CC, PROP_CSTS, PROP_VS, ccEnabled, ccShn, ccIosqes, ccIocqes, connectQueueEntries, connectQid, connectKatoMs,
  fabricsType, FCTYPE_CONNECT, connectDataCntlid, connectDataHostnqn, connectDataSubnqn, DISCOVERY_NQN, CONNECT_DATA_BYTES,
  propertyOffset, propertyIs8Bytes, propertyValue,
} from "../../assembly/nvme/fabrics";
import {
  nidAppend, NIDT_UUID, NIDT_EUI64, logPageBytes, logPageOffset, logPageId, discoveryEntryOffset, putSpacePadded,
  IDC_SUBNQN, IDC_IOCCSZ, IDC_MSDBD, IDN_LBAF0, IDN_EUI64, IDN_NGUID, DLE_TSAS, DISCOVERY_ENTRY_BYTES, IDENTIFY_BYTES,
  SMART_LOG_BYTES, SMART_POWER_ON_HOURS, ERROR_LOG_ENTRY_BYTES, ELE_NSID, CHANGED_NS_MAX, CHANGED_NS_LIST_BYTES,
} from "../../assembly/nvme/identify";

function ascii(s: string): usize {
  const p = heap.alloc(s.length + 1);
  for (let i = 0; i < s.length; i++) store<u8>(p + i, <u8>s.charCodeAt(i));
  store<u8>(p + s.length, 0);
  return p;
}
function problem(s: string): string | null { return nqnProblem(ascii(s), <u32>s.length); }
function zeroed(n: u32): usize { const p = heap.alloc(n); memory.fill(p, 0, n); return p; }

describe("NQN validation", () => {
  it("accepts the discovery NQN, a dated domain NQN and a UUID NQN", () => {
    expect(problem(DISCOVERY_NQN)).toBeNull();
    expect(problem("nqn.2016-06.io.spdk:cnode1")).toBeNull();
    expect(problem("nqn.2014-08.org.nvmexpress:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6")).toBeNull();
  });
  it("refuses a wrong prefix, a bad date, spaces, empty and over 223 bytes, each with its reason", () => {
    expect(problem("iqn.2016-06.io.spdk:x")).toBe("an NQN starts with \"nqn.\"");
    expect(problem("nqn.16-06.io.spdk:x")).toBe("an NQN reads nqn.yyyy-mm.<reverse domain>");
    expect(problem("nqn.2016-06io.spdk:x")).toBe("an NQN reads nqn.yyyy-mm.<reverse domain>");
    expect(problem("nqn.2016-06.io spdk")).toBe("an NQN holds printable ASCII only, without spaces");
    expect(problem("")).toBe("an NQN may not be empty");
    expect(problem("nqn.2014-08.org.nvmexpress:uuid:1234")).toBe("a UUID NQN ends with a 36-character UUID");
    let long = "nqn.2016-06.io.spdk:";
    while (long.length < 224) long += "a";
    expect(problem(long)).toBe("an NQN is at most 223 bytes");
    expect(problem(long.slice(0, 223))).toBeNull();
  });
  it("measures a NUL-padded field, and a field without a NUL as its whole width", () => {
    expect(fieldLength(ascii("nqn.x"), 256)).toBe(5);
    const full = heap.alloc(8);
    memory.fill(full, 0x41, 8);
    expect(fieldLength(full, 8)).toBe(8);
  });
});

describe("Fabrics commands", () => {
  it("reads Connect's SQE fields and data at the spec's offsets", () => {
    const sqe = zeroed(64);
    store<u8>(sqe, 0x7f);
    store<u8>(sqe + 4, FCTYPE_CONNECT);
    store<u16>(sqe + 42, 3);           // QID
    store<u16>(sqe + 44, 127);         // SQSIZE, 0's based
    store<u32>(sqe + 48, 15000);       // KATO
    expect(fabricsType(sqe)).toBe(FCTYPE_CONNECT);
    expect(connectQid(sqe)).toBe(3);
    expect(connectQueueEntries(sqe)).toBe(128);
    expect(connectKatoMs(sqe)).toBe(15000);
    const data = zeroed(CONNECT_DATA_BYTES);
    store<u16>(data + 16, 0xffff);
    expect(connectDataCntlid(data)).toBe(0xffff);
    expect(connectDataSubnqn(data) - data).toBe(256);
    expect(connectDataHostnqn(data) - data).toBe(512);
  });
  it("reads Property Get/Set's size, offset and value", () => {
    const sqe = zeroed(64);
    store<u8>(sqe + 40, 1);
    store<u32>(sqe + 44, PROP_CC);
    store<u64>(sqe + 48, 0x460001);
    expect(propertyIs8Bytes(sqe)).toBe(true);
    expect(propertyOffset(sqe)).toBe(PROP_CC);
    expect(propertyValue(sqe)).toBe(0x460001);
  });
  it("encodes CAP (MQES 0's based, CQR, TO, CSS NVM) and decodes CC", () => {
    const cap = capValue(128, 30);
    expect(cap & 0xffff).toBe(127);
    expect((cap >> 16) & 1).toBe(1);
    expect((cap >> 24) & 0xff).toBe(30);
    expect((cap >> 37) & 0xff).toBe(1);
    const cc: u32 = 1 | (1 << 14) | (6 << 16) | (4 << 20);
    expect(ccEnabled(cc)).toBe(true);
    expect(ccShn(cc)).toBe(1);
    expect(ccIosqes(cc)).toBe(6);
    expect(ccIocqes(cc)).toBe(4);
    expect(propertyBytes(PROP_CAP)).toBe(8);
    expect(propertyBytes(PROP_VS)).toBe(4);
    expect(propertyBytes(PROP_CSTS)).toBe(4);
    expect(propertyBytes(0x100)).toBe(0);
  });
  it("puts IATTR in bit 16 and IPO in bits 0-15 of an Invalid Parameters refusal", () => {
    expect(connectInvalidParamDw0(IATTR_DATA, IPO_HOSTNQN)).toBe((1 << 16) | 512);
    expect(connectInvalidParamDw0(0, IPO_SQSIZE)).toBe(44);
  });
});

describe("Identify and log pages", () => {
  it("has the spec's offsets and sizes", () => {
    expect(IDC_SUBNQN).toBe(768);
    expect(IDC_IOCCSZ).toBe(1792);
    expect(IDC_MSDBD).toBe(1803);
    expect(IDN_NGUID).toBe(104);
    expect(IDN_EUI64).toBe(120);
    expect(IDN_LBAF0).toBe(128);
    expect(IDENTIFY_BYTES).toBe(4096);
    expect(DLE_TSAS + 256).toBe(DISCOVERY_ENTRY_BYTES);
    expect(SMART_POWER_ON_HOURS + 16).toBeLessThanOrEqual(SMART_LOG_BYTES);
    expect(ELE_NSID + 4).toBeLessThanOrEqual(ERROR_LOG_ENTRY_BYTES);
    expect(CHANGED_NS_MAX * 4).toBe(CHANGED_NS_LIST_BYTES);
  });
  it("appends namespace id descriptors with their type and length", () => {
    const list = zeroed(4096);
    const uuid = ascii("0123456789abcdef");
    const eui = ascii("ABCDEFGH");
    let at = nidAppend(list, 0, NIDT_UUID, uuid);
    expect(at).toBe(20);
    at = nidAppend(list, at, NIDT_EUI64, eui);
    expect(at).toBe(32);
    expect(load<u8>(list)).toBe(3);
    expect(load<u8>(list + 1)).toBe(16);
    expect(load<u8>(list + 4)).toBe(0x30);
    expect(load<u8>(list + 20)).toBe(1);
    expect(load<u8>(list + 21)).toBe(8);
    expect(load<u8>(list + 24)).toBe(0x41);
  });
  it("decodes Get Log Page's 0's based dword count across NUMDL/NUMDU, its LID and offset", () => {
    expect(logPageBytes(0x00ff0070, 0)).toBe(1024);       // NUMDL 255 → 256 dwords
    expect(logPageBytes(0x00000002, 1)).toBe((65536 + 1) * 4);
    expect(logPageId(0x00ff0070)).toBe(0x70);
    expect(logPageOffset(4096, 1)).toBe((<u64>1 << 32) + 4096);
    expect(discoveryEntryOffset(2)).toBe(3072);
  });
  it("space pads an ASCII field", () => {
    const f = zeroed(8);
    putSpacePadded(f, 8, ascii("ab"), 2);
    expect(load<u8>(f + 1)).toBe(0x62);
    expect(load<u8>(f + 2)).toBe(0x20);
    expect(load<u8>(f + 7)).toBe(0x20);
  });
});
