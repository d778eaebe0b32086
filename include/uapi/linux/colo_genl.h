/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * colo_genl.h - generic netlink ABI of the colo-proxy control channel
 *
 * Documentation
 * =============
 *
 * The family is registered by nfnetlink_colo.ko under the name COLO_GENL_NAME
 * (resolve its id with CTRL_CMD_GETFAMILY; ENOENT means the module is not
 * loaded). Every command, GET included, requires CAP_NET_ADMIN (GENL_ADMIN_PERM:
 * in the initial user namespace); VMs live per network namespace. Values out of
 * an attribute's range are refused with -ERANGE by the policy.
 *
 * A protected VM is identified by COLO_A_VM_ID (u32, 1..COLO_VM_ID_MAX, the
 * number given as --index to the PMYCOLO/SECCOLO targets). PROXY_INIT binds the
 * VM to the sender's verified netlink port id; every later command for that VM
 * must come from the same socket (else -EPERM) except COLO_CMD_GET, which any
 * CAP_NET_ADMIN sender may issue. When the bound socket is closed the VM is torn
 * down: held PVM packets are dropped, never released (output commit: nothing
 * unverified leaves the host), SVM packets are freed, and PMYCOLO rules
 * referring to the index drop every PVM packet (fail closed) until a new
 * PROXY_INIT; the new owner's connections wait for a checkpoint before they
 * are compared again (COLO_REASON_UNSYNCED).
 *
 * Requests (kernel answers with an ack, or an errno in the ack):
 *
 * COLO_CMD_PROXY_INIT: create/bind a VM.
 *   COLO_A_VM_ID         u32  required
 *   COLO_A_MODE          u8   required, COLO_MODE_PRIMARY or COLO_MODE_SECONDARY
 *   COLO_A_HOLD_TIMEOUT  u32  optional, ms a PVM packet may wait for its SVM
 *                             counterpart before a checkpoint is requested
 *                             (0 = never; default COLO_DEFAULT_HOLD_TIMEOUT_MS)
 *   COLO_A_QUEUE_LIMIT   u32  optional, held packets per VM before a checkpoint
 *                             is requested (default COLO_DEFAULT_QUEUE_LIMIT)
 *   COLO_A_MEM_LIMIT     u32  optional, KiB: the VM's memory budget, charged by
 *                             skb truesize (plus the proxy's own entry) for
 *                             every PVM packet held and SVM packet queued;
 *                             past it PVM packets are dropped and a checkpoint
 *                             requested, SVM packets dropped (both counted in
 *                             COLO_STAT_MEM_FULL). At least
 *                             COLO_MIN_MEM_LIMIT_KB; default
 *                             COLO_DEFAULT_MEM_LIMIT_KB.
 *   COLO_A_CONN_LIMIT    u32  optional, connections the VM may have tracked at
 *                             once (at least 1; default
 *                             COLO_DEFAULT_CONN_LIMIT); a packet of one more
 *                             is dropped (primary) or not adjusted
 *                             (secondary), counted in COLO_STAT_CONNS_FULL.
 *   -EEXIST if the id is bound to another live socket.
 *
 * COLO_CMD_CHECKPOINT_BEGIN: the guest is stopped; cut the current epoch.
 *   COLO_A_VM_ID u32 required. The ack carries no data; the epoch that will be
 *   released by the matching DONE is reported in the monitor echo (COLO_A_EPOCH).
 *   COLO_A_STOP_TIME u64 optional: when the guest really stopped, in
 *   nanoseconds of CLOCK_REALTIME (QEMU's STOP event timestamp; QEMU and the
 *   primary's kernel share the host's clock). Held PVM packets that reached
 *   the proxy after that instant belong to the new epoch, however late the
 *   BEGIN itself arrives, so the DONE never releases output the guest sent
 *   after it resumed. Without it the cut is the moment BEGIN is handled.
 *
 * COLO_CMD_CHECKPOINT_DONE: the checkpoint that began last has completed (the
 *   secondary loaded the state). Primary: every PVM packet held in an epoch up
 *   to the one cut by BEGIN is released, SVM leftovers are dropped, compare
 *   state is resynchronised. Secondary: sequence offsets are reset.
 *   COLO_A_VM_ID u32 required. -EINVAL (with extack) if no BEGIN is pending.
 *
 * COLO_CMD_FAILOVER: stop comparing; pass traffic straight (primary) / keep
 *   adjusting existing connections but learn no new ones (secondary).
 *   COLO_A_VM_ID u32 required.
 *
 * COLO_CMD_RESET: back to the state right after PROXY_INIT: held packets are
 *   dropped, per-connection state forgotten, counters kept.
 *   COLO_A_VM_ID u32 required.
 *
 * COLO_CMD_GET: read a VM's state.
 *   COLO_A_VM_ID u32 required; COLO_A_FLAGS u32 optional (COLO_F_CONNS: add a
 *   COLO_A_CONN nest per tracked connection). Reply: COLO_CMD_GET with
 *   COLO_A_VM_ID, COLO_A_MODE, COLO_A_STATE, COLO_A_EPOCH, COLO_A_PORTID,
 *   COLO_A_HOLD_TIMEOUT, COLO_A_QUEUE_LIMIT, COLO_A_MEM_LIMIT, COLO_A_CONN_LIMIT,
 *   COLO_A_STATS (nest of COLO_STAT_*,
 *   each u64) and optionally COLO_A_CONN nests (COLO_CONN_A_*).
 *
 * Notifications (kernel -> userspace):
 *
 * COLO_CMD_CHECKPOINT_NEEDED: sent unicast to the VM's bound port and to the
 *   COLO_GENL_MCGRP_MONITOR group, at most once per epoch per VM.
 *   COLO_A_VM_ID u32, COLO_A_REASON u32 (enum colo_reason), COLO_A_EPOCH u32,
 *   optionally COLO_A_CONN (the connection) and COLO_A_SEQ u32 (TCP sequence
 *   number, or datagram byte offset, of the first difference).
 *
 * Every successful request is also echoed to COLO_GENL_MCGRP_MONITOR with the
 * request's command, COLO_A_VM_ID, COLO_A_PORTID (the sender) and, where it
 * applies, COLO_A_MODE and COLO_A_EPOCH; `colo-ctl monitor` prints them.
 */
#ifndef _UAPI_LINUX_COLO_GENL_H
#define _UAPI_LINUX_COLO_GENL_H

#define COLO_GENL_NAME		"COLO"
#define COLO_GENL_VERSION	1
#define COLO_GENL_MCGRP_MONITOR	"monitor"

#define COLO_VM_ID_MAX			0xffffffU
#define COLO_DEFAULT_HOLD_TIMEOUT_MS	1000
#define COLO_DEFAULT_QUEUE_LIMIT	8192
#define COLO_DEFAULT_MEM_LIMIT_KB	131072	/* 128 MiB */
#define COLO_MIN_MEM_LIMIT_KB		1024	/* room for GSO-sized skbs */
#define COLO_DEFAULT_CONN_LIMIT		65536

enum colo_mode {
	COLO_MODE_NONE,
	COLO_MODE_PRIMARY,
	COLO_MODE_SECONDARY,
	__COLO_MODE_MAX
};
#define COLO_MODE_MAX (__COLO_MODE_MAX - 1)

enum colo_state {
	COLO_STATE_NONE,
	COLO_STATE_RUNNING,	/* comparing (primary) / adjusting (secondary) */
	COLO_STATE_CHECKPOINT,	/* between CHECKPOINT_BEGIN and CHECKPOINT_DONE */
	COLO_STATE_FAILOVER,	/* passthrough */
	__COLO_STATE_MAX
};

enum colo_reason {
	COLO_REASON_NONE,
	COLO_REASON_MISMATCH,		/* PVM and SVM output differ */
	COLO_REASON_HOLD_TIMEOUT,	/* PVM output waited too long for the SVM */
	COLO_REASON_SVM_ONLY,		/* SVM sent something the PVM did not */
	COLO_REASON_QUEUE_LIMIT,	/* too many held packets, or bytes */
	COLO_REASON_CONN_GONE,		/* a connection with held output died */
	COLO_REASON_UNSYNCED,		/* output on a connection whose compare
					 * state is unknown (first seen
					 * mid-stream, or after a re-register):
					 * only a checkpoint can cover it */
	__COLO_REASON_MAX
};

enum colo_cmd {
	COLO_CMD_UNSPEC,
	COLO_CMD_PROXY_INIT,
	COLO_CMD_CHECKPOINT_BEGIN,
	COLO_CMD_CHECKPOINT_DONE,
	COLO_CMD_FAILOVER,
	COLO_CMD_RESET,
	COLO_CMD_GET,
	COLO_CMD_CHECKPOINT_NEEDED,
	__COLO_CMD_MAX
};
#define COLO_CMD_MAX (__COLO_CMD_MAX - 1)

enum colo_attr {
	COLO_A_UNSPEC,
	COLO_A_PAD,
	COLO_A_VM_ID,		/* u32 */
	COLO_A_MODE,		/* u8, enum colo_mode */
	COLO_A_STATE,		/* u8, enum colo_state */
	COLO_A_EPOCH,		/* u32 */
	COLO_A_REASON,		/* u32, enum colo_reason */
	COLO_A_SEQ,		/* u32 */
	COLO_A_HOLD_TIMEOUT,	/* u32, ms */
	COLO_A_QUEUE_LIMIT,	/* u32, packets */
	COLO_A_FLAGS,		/* u32, COLO_F_* */
	COLO_A_PORTID,		/* u32 */
	COLO_A_STATS,		/* nest, COLO_STAT_* */
	COLO_A_CONN,		/* nest, COLO_CONN_A_* */
	COLO_A_STOP_TIME,	/* u64, ns of CLOCK_REALTIME (BEGIN) */
	COLO_A_MEM_LIMIT,	/* u32, KiB */
	COLO_A_CONN_LIMIT,	/* u32, connections */
	__COLO_A_MAX
};
#define COLO_A_MAX (__COLO_A_MAX - 1)

#define COLO_F_CONNS	(1U << 0)
#define COLO_F_ALL	COLO_F_CONNS

enum colo_stat {
	COLO_STAT_UNSPEC,
	COLO_STAT_PAD,
	COLO_STAT_PVM_PACKETS,		/* PVM packets seen */
	COLO_STAT_SVM_PACKETS,		/* SVM packets consumed */
	COLO_STAT_MATCHED_BYTES,	/* payload bytes compared equal */
	COLO_STAT_RELEASED_MATCH,	/* PVM packets released after a match */
	COLO_STAT_RELEASED_CHECKPOINT,	/* PVM packets released by a checkpoint */
	COLO_STAT_HELD,			/* PVM packets held right now */
	COLO_STAT_DROPPED,		/* PVM packets dropped (teardown, reset) */
	COLO_STAT_SVM_DROPPED,		/* SVM packets dropped (leftovers, no conn) */
	COLO_STAT_MISMATCHES,		/* differences found */
	COLO_STAT_NOTIFIES,		/* CHECKPOINT_NEEDED sent */
	COLO_STAT_CHECKPOINTS,		/* CHECKPOINT_DONE handled */
	COLO_STAT_HOLD_TIMEOUTS,
	COLO_STAT_QUEUE_FULL,
	COLO_STAT_CONNS,		/* connections tracked right now */
	COLO_STAT_SEQ_ADJUSTED,		/* secondary: connections given an offset */
	COLO_STAT_PASSED,		/* packets passed untouched (failover) */
	COLO_STAT_RELEASED_FAILOVER,	/* held PVM packets released by failover */
	COLO_STAT_DROPPED_UNVERIFIABLE,	/* PVM packets dropped because they
					 * cannot be compared (untracked,
					 * invalid conntrack, VM not attached) */
	COLO_STAT_SVM_STALE,		/* SVM packets of a closed epoch dropped */
	COLO_STAT_MEM_FULL,		/* packets dropped: memory budget reached */
	COLO_STAT_MEM_BYTES,		/* bytes charged to the budget right now */
	COLO_STAT_CONNS_FULL,		/* connections refused: conn limit */
	__COLO_STAT_MAX
};
#define COLO_STAT_MAX (__COLO_STAT_MAX - 1)

enum colo_conn_attr {
	COLO_CONN_A_UNSPEC,
	COLO_CONN_A_FAMILY,	/* u8, AF_INET or AF_INET6 */
	COLO_CONN_A_PROTO,	/* u8, IPPROTO_* */
	COLO_CONN_A_SRC,	/* binary, 4 or 16 bytes, original direction */
	COLO_CONN_A_DST,	/* binary, 4 or 16 bytes */
	COLO_CONN_A_SPORT,	/* u16, network byte order */
	COLO_CONN_A_DPORT,	/* u16, network byte order */
	COLO_CONN_A_HELD,	/* u32, PVM packets held */
	COLO_CONN_A_SVM_QUEUED,	/* u32, SVM packets waiting */
	COLO_CONN_A_MATCHED_SEQ, /* u32, TCP: next sequence number to compare */
	COLO_CONN_A_OFFSET,	/* u32, secondary: seq offset PVM - SVM */
	__COLO_CONN_A_MAX
};
#define COLO_CONN_A_MAX (__COLO_CONN_A_MAX - 1)

#endif /* _UAPI_LINUX_COLO_GENL_H */
