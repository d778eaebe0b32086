// SPDX-License-Identifier: GPL-2.0
/*
 * old_engine_stubs.c - the calls the first engine (before the output-commit
 * contract) did not have, so that `make check-old` can run today's cases
 * against it and show which holes they catch. Not part of any other build.
 */
#include "colo_compare.h"

enum colo_cmp_result colo_stream_acked(struct colo_stream *st, u32 ack)
{
	if (!st->ack_valid || colo_seq_after(ack, st->ack)) {
		st->ack = ack;
		st->ack_valid = 1;
	}
	return st->mismatched ? COLO_CMP_MISMATCH : COLO_CMP_PENDING;
}

struct colo_seg *colo_stream_pop_history(struct colo_stream *st)
{
	struct colo_seg *s = st->side[COLO_SVM].head;

	if (s && !colo_seq_after(colo_seg_end(s), st->matched)) {
		colo_stream_remove(st, s);
		return s;
	}
	return 0;
}
