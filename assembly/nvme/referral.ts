// Discovery referrals (nvmf_discovery_add_referral): other discovery services the discovery log points
// hosts to, each a transport address and the NQN to ask there. A table at the registry root, changed
// on the app thread under registryLock (registry.ts), read by the discovery log.
import { heapAllocZeroed, report, LEVEL_ERROR, EINVAL, ENOMEM, ENOENT, EEXIST } from "../runtime";
import {
  registryRoot, registryLock, registryUnlock, registryChanged, addressValid, addressTableFind, addressStore, addressSame,
  LISTENER_BYTES, Listener, cStringBytes,
} from "./registry";
import { DISCOVERY_NQN, NQN_FIELD_BYTES } from "./fabrics";
import { nqnChecked } from "./subsystem";

export const MAX_REFERRALS: u32 = 32;
const REFERRAL_SUBNQN: usize = LISTENER_BYTES;       // after the address (Listener layout)
const REFERRAL_BYTES: usize = REFERRAL_SUBNQN + <usize>NQN_FIELD_BYTES;

export function referralSubnqn(at: usize): usize { return at + REFERRAL_SUBNQN; }

/** Under registryLock: referral slot `i` (0..MAX_REFERRALS), or 0 when it is free. */
export function referralAt(i: u32): usize {
  const t = registryRoot().referrals;
  if (t == 0) return 0;
  const at = t + <usize>i * REFERRAL_BYTES;
  return changetype<Listener>(at).id != 0 ? at : 0;
}

/** Add a referral (subnqn 0: the discovery NQN). 0 or -errno after a report. App thread. */
export function nvmfReferralAdd(trtype: u32, adrfam: u32, traddr: usize, trsvcid: usize, subnqn: usize): i32 {
  if (!addressValid(trtype, adrfam, traddr, trsvcid)) {
    report(LEVEL_ERROR, -EINVAL, "nvmf: a referral needs a known trtype and adrfam, a traddr under 256 bytes and a trsvcid under 32");
    return -EINVAL;
  }
  if (subnqn != 0 && nqnChecked(subnqn, "referral subsystem NQN") < 0) return -EINVAL;
  const r = registryRoot();
  registryLock();
  if (r.referrals == 0) r.referrals = heapAllocZeroed(<usize>MAX_REFERRALS * REFERRAL_BYTES);
  const i = r.referrals == 0 ? -ENOMEM : addressTableFind(r.referrals, MAX_REFERRALS, REFERRAL_BYTES, trtype, adrfam, traddr, trsvcid);
  if (i >= 0) {
    const at = r.referrals + <usize>i * REFERRAL_BYTES;
    addressStore(at, <u32>i + 1, trtype, adrfam, traddr, trsvcid);
    memory.fill(at + REFERRAL_SUBNQN, 0, NQN_FIELD_BYTES);
    if (subnqn != 0) memory.copy(at + REFERRAL_SUBNQN, subnqn, <usize>cStringBytes(subnqn, NQN_FIELD_BYTES));
    else for (let k = 0; k < DISCOVERY_NQN.length; k++) store<u8>(at + REFERRAL_SUBNQN + <usize>k, <u8>DISCOVERY_NQN.charCodeAt(k));
    registryChanged();
  }
  registryUnlock();
  if (i == -EEXIST) report(LEVEL_ERROR, i, "nvmf: that referral exists already");
  else if (i < 0 && i != -ENOMEM) report(LEVEL_ERROR, i, "nvmf: the target keeps at most %d referrals", 0, 0, <f64>MAX_REFERRALS);
  return i < 0 ? i : 0;
}

/** Remove the referral at this address: 0 or -ENOENT. App thread. */
export function nvmfReferralRemove(trtype: u32, adrfam: u32, traddr: usize, trsvcid: usize): i32 {
  let rc = -ENOENT;
  registryLock();
  for (let i: u32 = 0; i < MAX_REFERRALS; i++) {
    const at = referralAt(i);
    if (at == 0 || !addressSame(at, trtype, adrfam, traddr, trsvcid)) continue;
    memory.fill(at, 0, REFERRAL_BYTES);
    registryChanged();
    rc = 0;
    break;
  }
  registryUnlock();
  if (rc != 0) report(LEVEL_ERROR, rc, "nvmf: there is no referral at that address");
  return rc;
}
