/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdp-fwd: forward every packet to "out", optionally rewriting the
 * Ethernet addresses: --mac-swap exchanges them, --set-dst-mac and
 * --set-src-mac write given ones (after the swap, when both are asked).
 * A frame too short to hold the addresses is dropped when a rewrite is asked.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mpdp_stage.h"

enum { FWD_NEXT_DROP = MPDP_STAGE_NEXT_DROP, FWD_NEXT_OUT, FWD_N_NEXT };

struct fwd_ctx {
	int swap;
	int set_dst, set_src;
	uint8_t dst[6], src[6];
};

static int
parse_mac(const char *opt, const char *s, uint8_t mac[6], struct mpdp_errbuf *eb)
{
	unsigned b[6];
	char end;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) != 6 ||
	    strlen(s) != 17)
		return mpdp_err_set(eb, -EINVAL, "--%s %s: expected a MAC address like 02:00:00:00:00:01",
				    opt, s);
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

static int
fwd_init(void *vctx, const struct mpdp_stage_env *env, struct mpdp_errbuf *eb)
{
	struct fwd_ctx *ctx = vctx;
	const char *dst = mpdp_stage_option(env, "set-dst-mac");
	const char *src = mpdp_stage_option(env, "set-src-mac");

	ctx->swap = mpdp_stage_option(env, "mac-swap") != NULL;
	ctx->set_dst = dst != NULL;
	ctx->set_src = src != NULL;
	if (dst != NULL && parse_mac("set-dst-mac", dst, ctx->dst, eb) != 0)
		return -EINVAL;
	if (src != NULL && parse_mac("set-src-mac", src, ctx->src, eb) != 0)
		return -EINVAL;
	return 0;
}

static void
fwd_process(void *vctx, struct mpdp_mbuf **pkts, uint16_t n, uint16_t *next)
{
	const struct fwd_ctx *ctx = vctx;

	if (!ctx->swap && !ctx->set_dst && !ctx->set_src) {
		for (uint16_t i = 0; i < n; i++)
			next[i] = FWD_NEXT_OUT;
		return;
	}
	for (uint16_t i = 0; i < n; i++) {
		uint8_t *eth = mpdp_mbuf_data(pkts[i]), tmp[6];

		if (pkts[i]->data_len < 14) {
			next[i] = FWD_NEXT_DROP;
			continue;
		}
		if (ctx->swap) {
			memcpy(tmp, eth, 6);
			memcpy(eth, eth + 6, 6);
			memcpy(eth + 6, tmp, 6);
		}
		if (ctx->set_dst)
			memcpy(eth, ctx->dst, 6);
		if (ctx->set_src)
			memcpy(eth + 6, ctx->src, 6);
		next[i] = FWD_NEXT_OUT;
	}
}

static const char *const fwd_next[] = { "drop", "out" };

static const struct mpdp_stage_option fwd_options[] = {
	{ "mac-swap", NULL, "exchange the destination and source MAC addresses" },
	{ "set-dst-mac", "MAC", "write MAC as the destination address" },
	{ "set-src-mac", "MAC", "write MAC as the source address" },
	{ NULL, NULL, NULL },
};

static const struct mpdp_stage fwd_stage = {
	.name = "fwd",
	.summary = "Forward every packet to 'out', optionally rewriting its MAC addresses.",
	.ctx_size = sizeof(struct fwd_ctx),
	.n_next = FWD_N_NEXT,
	.next_names = fwd_next,
	.options = fwd_options,
	.init = fwd_init,
	.process = fwd_process,
};

int
main(int argc, char **argv)
{
	return mpdp_stage_main(argc, argv, &fwd_stage);
}
