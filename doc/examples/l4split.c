/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * l4split: send TCP to "tcp", UDP to "udp", everything else to "other"
 * (or drop it with --drop-other). The example of doc/writing-a-stage.md.
 */
#include "mpdp_pkt.h"
#include "mpdp_stage.h"

enum { L4_DROP = MPDP_STAGE_NEXT_DROP, L4_TCP, L4_UDP, L4_OTHER, L4_N_NEXT };

struct l4split_ctx {
	uint16_t other;           /* where packets that are neither go */
};

static int
l4split_init(void *vctx, const struct mpdp_stage_env *env, struct mpdp_errbuf *eb)
{
	struct l4split_ctx *ctx = vctx;

	(void)eb;
	ctx->other = mpdp_stage_option(env, "drop-other") != NULL ? L4_DROP : L4_OTHER;
	return 0;
}

static void
l4split_process(void *vctx, struct mpdp_mbuf **pkts, uint16_t n, uint16_t *next)
{
	const struct l4split_ctx *ctx = vctx;

	for (uint16_t i = 0; i < n; i++) {
		struct mpdp_pkt_info info;

		/* A malformed packet still has the types parsed before the fault. */
		mpdp_pkt_parse(mpdp_mbuf_data(pkts[i]), pkts[i]->data_len, &info);
		if (info.ptype & MPDP_PTYPE_TCP)
			next[i] = L4_TCP;
		else if (info.ptype & MPDP_PTYPE_UDP)
			next[i] = L4_UDP;
		else
			next[i] = ctx->other;
	}
}

static const char *const l4split_next[] = { "drop", "tcp", "udp", "other" };

static const struct mpdp_stage_option l4split_options[] = {
	{ "drop-other", NULL, "drop what is neither TCP nor UDP" },
	{ NULL, NULL, NULL },
};

static const struct mpdp_stage l4split_stage = {
	.name = "l4split",
	.summary = "Split packets by transport protocol.",
	.ctx_size = sizeof(struct l4split_ctx),
	.n_next = L4_N_NEXT,
	.next_names = l4split_next,
	.options = l4split_options,
	.init = l4split_init,
	.process = l4split_process,
};

int
main(int argc, char **argv)
{
	return mpdp_stage_main(argc, argv, &l4split_stage);
}
