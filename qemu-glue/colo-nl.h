/* SPDX-License-Identifier: GPL-2.0 */
/*
 * colo-nl.h - libmnl client library for the colo-proxy generic netlink family
 *
 * Every function returns 0 (or a positive count) on success and -errno on
 * failure; colo_nl_strerror() turns the errno into a message that names the
 * usual cause (-ENOENT from colo_nl_open(): "module nfnetlink_colo not loaded").
 * The kernel's extended ack message, if any, is kept in colo_nl_last_msg().
 * A struct colo_nl is not thread-safe: use it from one thread at a time.
 * Requests wait for their ack (at most 10 s, or what colo_nl_set_ack_timeout()
 * set) whatever the fd's O_NONBLOCK. The kernel handles a request inside the
 * sendmsg() call, so the ack is normally waiting when the send returns; only
 * an ack lost to a receive buffer overrun makes a request wait that long.
 *
 * Notifications and requests share one socket. A notification that arrives
 * while a request waits for its ack is queued inside the library, where poll()
 * on colo_nl_fd() cannot see it: after every request, drain the queue with
 * colo_nl_recv_event() while colo_nl_event_pending() is non-zero. If the
 * socket's receive buffer overran (notifications were lost), the next
 * colo_nl_recv_event() returns -ENOBUFS once; a primary should then request a
 * checkpoint as if a CHECKPOINT_NEEDED had arrived.
 *
 * Control socket of the process that owns a registration
 * ------------------------------------------------------
 * The kernel accepts commands for a VM only from the socket that sent its
 * PROXY_INIT, so manual commands (`colo-ctl checkpoint|failover VMID`) are
 * passed to the owning process (colod, or `colo-ctl register|session`) over a
 * Unix stream socket at colo_nl_control_path(): "$COLO_RUN_DIR/vm<ID>.sock",
 * COLO_RUN_DIR defaulting to COLO_NL_RUN_DIR. The owner creates it (mode 0600,
 * directory 0700) after a successful PROXY_INIT and unlinks it on exit.
 * Protocol: one request line per connection or several in sequence, each
 * answered by exactly one line:
 *	"checkpoint\n"	-> a full checkpoint (primary: the daemon's normal
 *			   checkpoint transaction; colo-ctl: BEGIN + DONE)
 *	"failover\n"	-> failover (colod: QMP takeover + COLO_CMD_FAILOVER)
 *	reply "ok\n" or "error <message>\n"; unknown requests get
 *	"error unknown command\n". Lines are at most 256 bytes.
 */
#ifndef COLO_NL_H
#define COLO_NL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/colo_genl.h>

struct colo_nl;

struct colo_nl_stats {
	uint64_t v[COLO_STAT_MAX + 1];	/* indexed by enum colo_stat */
};

struct colo_nl_conn {
	uint8_t family, proto;
	uint8_t src[16], dst[16];	/* 4 bytes used for AF_INET */
	uint16_t sport, dport;		/* host byte order */
	uint32_t held, svm_queued, matched_seq, offset;
};

struct colo_nl_vm {
	uint32_t vm_id;
	uint8_t mode, state;
	uint32_t epoch, portid, hold_timeout_ms, queue_limit, mem_limit_kb;
	uint32_t conn_limit;
	struct colo_nl_stats stats;
	struct colo_nl_conn *conns;	/* malloc'd, free with colo_nl_vm_free() */
	unsigned int n_conns;
};

/* One message of the family as received by a listener or monitor. */
struct colo_nl_event {
	uint8_t cmd;			/* enum colo_cmd */
	bool has_vm_id, has_reason, has_epoch, has_seq, has_conn, has_mode,
	     has_portid;
	uint32_t vm_id, reason, epoch, seq, portid;
	uint8_t mode;
	struct colo_nl_conn conn;
	bool multicast;			/* came through the monitor group */
};

/* Open a socket and resolve the family. */
int colo_nl_open(struct colo_nl **nlp);
void colo_nl_close(struct colo_nl *nl);

/* Pollable fd: readable when a notification is waiting. */
int colo_nl_fd(const struct colo_nl *nl);

/* Join the monitor multicast group (to see every notice and command). */
int colo_nl_join_monitor(struct colo_nl *nl);

/*
 * Requests; all acked. PROXY_INIT's limits (@lim may be NULL): each 0 = the
 * kernel's default; hold_timeout_ms COLO_NL_HOLD_TIMEOUT_NEVER sends 0 (the
 * kernel's "never").
 */
#define COLO_NL_HOLD_TIMEOUT_NEVER	UINT32_MAX
struct colo_nl_limits {
	uint32_t hold_timeout_ms;
	uint32_t queue_limit;	/* held packets */
	uint32_t mem_limit_kb;	/* memory budget, KiB */
	uint32_t conn_limit;	/* tracked connections */
};
int colo_nl_proxy_init(struct colo_nl *nl, uint32_t vm_id, uint8_t mode,
		       const struct colo_nl_limits *lim);
int colo_nl_checkpoint_begin(struct colo_nl *nl, uint32_t vm_id);
/*
 * BEGIN with COLO_A_STOP_TIME: @stop_time_ns is when the guest really stopped
 * (ns of CLOCK_REALTIME, e.g. QEMU's STOP event timestamp); 0 sends none.
 */
int colo_nl_checkpoint_begin_at(struct colo_nl *nl, uint32_t vm_id,
				uint64_t stop_time_ns);
int colo_nl_checkpoint_done(struct colo_nl *nl, uint32_t vm_id);
int colo_nl_failover(struct colo_nl *nl, uint32_t vm_id);
int colo_nl_reset(struct colo_nl *nl, uint32_t vm_id);
int colo_nl_get(struct colo_nl *nl, uint32_t vm_id, bool conns,
		struct colo_nl_vm *vm);
void colo_nl_vm_free(struct colo_nl_vm *vm);

/* Bound the wait for a request's ack (ms; <= 0 restores the 10 s default). */
void colo_nl_set_ack_timeout(struct colo_nl *nl, int timeout_ms);

/*
 * Read one pending message (non-blocking if the fd is; call after poll()).
 * Returns 1 and fills *ev, 0 if the message was not for this family, -errno.
 */
int colo_nl_recv_event(struct colo_nl *nl, struct colo_nl_event *ev);

/* Number of notifications queued inside the library (see above). */
unsigned int colo_nl_event_pending(const struct colo_nl *nl);

/* Family id, own port id, monitor group id (0 if the family has none). */
uint16_t colo_nl_family_id(const struct colo_nl *nl);
uint32_t colo_nl_portid(const struct colo_nl *nl);
uint32_t colo_nl_monitor_group(const struct colo_nl *nl);

/*
 * colo_nl_strerror() explains an errno from colo_nl_open() or a request in
 * general terms. After a request, colo_nl_errmsg() is better: the kernel's
 * extack message if there was one, else an explanation in the context of a
 * request (-ENOENT there means "VM not registered", not a missing module).
 */
const char *colo_nl_strerror(int err);
const char *colo_nl_errmsg(const struct colo_nl *nl, int err);
const char *colo_nl_last_msg(const struct colo_nl *nl);
const char *colo_nl_cmd_name(uint8_t cmd);
const char *colo_nl_reason_name(uint32_t reason);
const char *colo_nl_mode_name(uint8_t mode);
const char *colo_nl_state_name(uint8_t state);
const char *colo_nl_stat_name(unsigned int stat);

/*
 * "tcp/10.0.0.1:80->10.0.0.2:4242", "udp/[fd00::1]:53->[fd00::2]:4242",
 * "icmp/10.0.0.1->10.0.0.2" (no blanks: fits key=value output).
 */
int colo_nl_format_conn(const struct colo_nl_conn *conn, char *buf,
			size_t len);

/* Control socket path of a VM (see above). -ENAMETOOLONG if it won't fit. */
#define COLO_NL_RUN_DIR	"/run/colo-proxy"
int colo_nl_control_path(uint32_t vm_id, char *buf, size_t len);

#endif /* COLO_NL_H */
