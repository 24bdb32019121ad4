// vhost-user and virtio-blk wire facts (QEMU docs/interop/vhost-user.rst, linux virtio_blk.h and
// virtio_ring.h): message ids, header and payload layouts with their sizes, feature bits.

// ---- message header: u32 request, u32 flags, u32 size, then `size` payload bytes ----
export const HDR_BYTES: u32 = 12;
export const HDR_REQUEST: usize = 0;
export const HDR_FLAGS: usize = 4;
export const HDR_SIZE: usize = 8;
export const FLAG_VERSION: u32 = 0x1;
export const FLAG_VERSION_MASK: u32 = 0x3;
export const FLAG_REPLY: u32 = 1 << 2;
export const FLAG_NEED_REPLY: u32 = 1 << 3;
/** The largest payload any message we accept carries (a memory table or a config is far below it). */
export const MAX_PAYLOAD: u32 = 4096;
/** vhost-user's limit on fds per message (memory regions). */
export const MAX_FDS: u32 = 8;

// ---- requests ----
export const GET_FEATURES: u32 = 1;
export const SET_FEATURES: u32 = 2;
export const SET_OWNER: u32 = 3;
export const RESET_OWNER: u32 = 4;
export const SET_MEM_TABLE: u32 = 5;
export const SET_VRING_NUM: u32 = 8;
export const SET_VRING_ADDR: u32 = 9;
export const SET_VRING_BASE: u32 = 10;
export const GET_VRING_BASE: u32 = 11;
export const SET_VRING_KICK: u32 = 12;
export const SET_VRING_CALL: u32 = 13;
export const SET_VRING_ERR: u32 = 14;
export const GET_PROTOCOL_FEATURES: u32 = 15;
export const SET_PROTOCOL_FEATURES: u32 = 16;
export const GET_QUEUE_NUM: u32 = 17;
export const SET_VRING_ENABLE: u32 = 18;
export const GET_CONFIG: u32 = 24;
export const SET_CONFIG: u32 = 25;
export const GET_INFLIGHT_FD: u32 = 31;
export const SET_INFLIGHT_FD: u32 = 32;
export const RESET_DEVICE: u32 = 34;
export const GET_MAX_MEM_SLOTS: u32 = 36;
export const ADD_MEM_REG: u32 = 37;
export const REM_MEM_REG: u32 = 38;
export const SET_STATUS: u32 = 39;
export const GET_STATUS: u32 = 40;

// ---- payloads ----
export const U64_BYTES: u32 = 8;
export const VRING_STATE_BYTES: u32 = 8;           // u32 index, u32 num
export const VRING_ADDR_BYTES: u32 = 40;           // u32 index, u32 flags, u64 desc, used, avail, log
export const REGION_BYTES: u32 = 32;               // u64 guest_addr, size, user_addr, mmap_offset
export const MEM_TABLE_HEAD: u32 = 8;              // u32 nregions, u32 padding
export const MEM_REG_BYTES: u32 = 8 + REGION_BYTES; // u64 padding, region (ADD/REM_MEM_REG)
export const CONFIG_HEAD: u32 = 12;                // u32 offset, u32 size, u32 flags, then bytes
export const VRING_NO_FD: u64 = 1 << 8;            // KICK/CALL/ERR: no fd came with it (poll instead)
export const INFLIGHT_BYTES: u32 = 24;             // u64 mmap_size, u64 mmap_offset, u16 num_queues, u16 queue_size, pad

// ---- the inflight region (INFLIGHT_SHMFD), per queue, split rings ----
export const IF_FEATURES: usize = 0;               // u64
export const IF_VERSION: usize = 8;                // u16 (0: never used)
export const IF_DESC_NUM: usize = 10;              // u16
export const IF_LAST_BATCH_HEAD: usize = 12;       // u16
export const IF_USED_IDX: usize = 14;              // u16
export const IF_DESC: usize = 16;                  // desc_num × {u8 inflight, u8 pad[5], u16 next, u64 counter}
export const IF_DESC_BYTES: u32 = 16;
export const IF_ALIGN: u32 = 64;

// ---- feature bits ----
export const F_PROTOCOL_FEATURES: u64 = <u64>1 << 30;
export const F_VERSION_1: u64 = <u64>1 << 32;
export const F_INDIRECT_DESC: u64 = <u64>1 << 28;
export const F_EVENT_IDX: u64 = <u64>1 << 29;
export const BLK_F_SIZE_MAX: u64 = <u64>1 << 1;
export const BLK_F_SEG_MAX: u64 = <u64>1 << 2;
export const BLK_F_RO: u64 = <u64>1 << 5;
export const BLK_F_BLK_SIZE: u64 = <u64>1 << 6;
export const BLK_F_FLUSH: u64 = <u64>1 << 9;
export const BLK_F_MQ: u64 = <u64>1 << 12;
export const BLK_F_DISCARD: u64 = <u64>1 << 13;
export const BLK_F_WRITE_ZEROES: u64 = <u64>1 << 14;

export const PF_MQ: u64 = <u64>1 << 0;
export const PF_REPLY_ACK: u64 = <u64>1 << 3;
export const PF_CONFIG: u64 = <u64>1 << 9;
export const PF_INFLIGHT_SHMFD: u64 = <u64>1 << 12;
export const PF_RESET_DEVICE: u64 = <u64>1 << 13;
export const PF_CONFIGURE_MEM_SLOTS: u64 = <u64>1 << 15;
export const PF_STATUS: u64 = <u64>1 << 16;

// ---- split virtqueue ----
export const DESC_BYTES: u32 = 16;                 // u64 addr, u32 len, u16 flags, u16 next
export const DESC_F_NEXT: u16 = 1;
export const DESC_F_WRITE: u16 = 2;
export const DESC_F_INDIRECT: u16 = 4;
export const AVAIL_F_NO_INTERRUPT: u16 = 1;
export const USED_F_NO_NOTIFY: u16 = 1;
/** Largest queue we accept (virtio's limit for split rings). */
export const MAX_QUEUE_SIZE: u32 = 32768;

// ---- virtio-blk ----
export const BLK_T_IN: u32 = 0;
export const BLK_T_OUT: u32 = 1;
export const BLK_T_FLUSH: u32 = 4;
export const BLK_T_GET_ID: u32 = 8;
export const BLK_T_DISCARD: u32 = 11;
export const BLK_T_WRITE_ZEROES: u32 = 13;
export const BLK_S_OK: u8 = 0;
export const BLK_S_IOERR: u8 = 1;
export const BLK_S_UNSUPP: u8 = 2;
export const BLK_OUTHDR_BYTES: u32 = 16;           // u32 type, u32 ioprio, u64 sector (512 B)
export const BLK_ID_BYTES: u32 = 20;
export const BLK_DISCARD_SEG_BYTES: u32 = 16;      // u64 sector, u32 num_sectors, u32 flags
export const SECTOR_SHIFT: u32 = 9;

// virtio_blk_config offsets
export const CFG_CAPACITY: usize = 0;              // u64, 512-byte sectors
export const CFG_SIZE_MAX: usize = 8;              // u32
export const CFG_SEG_MAX: usize = 12;              // u32
export const CFG_BLK_SIZE: usize = 20;             // u32 (after geometry u16,u8,u8 at 16)
export const CFG_NUM_QUEUES: usize = 34;           // u16 (after topology 24..31, wce 32, unused 33)
export const CFG_MAX_DISCARD_SECTORS: usize = 36;  // u32
export const CFG_MAX_DISCARD_SEG: usize = 40;      // u32
export const CFG_DISCARD_ALIGN: usize = 44;        // u32
export const CFG_MAX_WRITE_ZEROES_SECTORS: usize = 48;
export const CFG_MAX_WRITE_ZEROES_SEG: usize = 52;
export const CFG_WRITE_ZEROES_MAY_UNMAP: usize = 56; // u8
export const CONFIG_BYTES: u32 = 60;
