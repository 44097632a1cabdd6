/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdp-nat per-packet path. One flowtab lookup per packet on the fast path
 * (a second only for hairpinning, when the destination is one of the NAT's
 * own outside addresses).
 */
#include <arpa/inet.h>

#include "nat_config.h"
#include "nat_path.h"
#include "nat_xlate.h"

/* The drop counter of each class that is dropped (0: not a drop class). */
static const uint8_t class_drop[NAT_CLASS_N_] = {
	[NAT_CLASS_IP_TRUNCATED] = NAT_C_DROP_TRUNCATED,
	[NAT_CLASS_IP_MALFORMED] = NAT_C_DROP_MALFORMED,
	[NAT_CLASS_FRAGMENT] = NAT_C_DROP_FRAGMENT,
	[NAT_CLASS_TRUNCATED] = NAT_C_DROP_TRUNCATED,
	[NAT_CLASS_MALFORMED] = NAT_C_DROP_MALFORMED,
	[NAT_CLASS_PROTO] = NAT_C_DROP_PROTO,
	[NAT_CLASS_ICMP_TYPE] = NAT_C_DROP_ICMP_TYPE,
	[NAT_CLASS_ICMP_EMBEDDED] = NAT_C_DROP_ICMP_EMBEDDED,
};

static inline void
key_fill(struct nat_key *k, uint32_t addr, uint16_t port, uint8_t proto, uint8_t side)
{
	k->addr = addr;
	k->port = port;
	k->proto = proto;
	k->side = side;
}

static inline uint16_t
pass(struct nat_table *t, enum nat_counter c, int outbound)
{
	nat_table_count(t, c, 1);
	return outbound ? NAT_NEXT_OUTSIDE : NAT_NEXT_INSIDE;
}

static inline uint16_t
drop(struct nat_table *t, enum nat_counter c)
{
	nat_table_count(t, c, 1);
	return NAT_NEXT_DROP;
}

/*
 * The session of the outside endpoint a packet is sent to (for an ICMP
 * error, the endpoint that sent the packet it quotes), refreshed; NULL
 * when there is none.
 */
static inline struct nat_sess *
in_session(struct nat_table *t, const struct nat_pkt *p, uint64_t now)
{
	struct nat_sess *s;
	struct nat_key k;
	uint32_t id;

	if (p->kind == NAT_PKT_ICMP_ERR)
		key_fill(&k, p->q_src, p->q_sport, p->q_proto, NAT_SIDE_OUTSIDE);
	else
		key_fill(&k, p->dst, p->dport, p->proto, NAT_SIDE_OUTSIDE);
	id = nat_table_lookup(t, &k, now);
	if (id == MPDP_FLOWTAB_NONE)
		return NULL;
	s = nat_table_sess(t, id);
	if (p->kind != NAT_PKT_ICMP_ERR)
		nat_table_touch(s, NAT_DIR_IN, p->tcp_flags, now);
	return s;
}

static uint16_t
path_in(struct nat_table *t, uint8_t *frame, struct nat_pkt *p, uint64_t now)
{
	struct nat_sess *s = in_session(t, p, now);

	if (s == NULL)
		return drop(t, p->kind == NAT_PKT_ICMP_ERR ? NAT_C_DROP_ICMP_NO_MAPPING :
							      NAT_C_DROP_NO_MAPPING);
	nat_xlate_dst(frame, p, s->in_addr, s->in_port);
	nat_table_count(t, NAT_C_XLATE_IN, 1);
	return NAT_NEXT_INSIDE;
}

static uint16_t
path_out(struct nat_table *t, uint8_t *frame, struct nat_pkt *p, uint64_t now)
{
	struct nat_sess *s;
	struct nat_key k;
	uint32_t id;

	if (p->kind == NAT_PKT_ICMP_ERR) {
		/* An inside host reports on a packet it got: the quoted
		 * destination is its side of the mapping. An error is not
		 * session traffic (RFC 5508): it makes and refreshes none. */
		key_fill(&k, p->q_dst, p->q_dport, p->q_proto, NAT_SIDE_INSIDE);
		id = nat_table_lookup(t, &k, now);
		if (id == MPDP_FLOWTAB_NONE) {
			if (!nat_config_inside_known(t->cfg, ntohl(p->src)))
				return pass(t, NAT_C_PASS_NO_RULE, 1);
			return drop(t, NAT_C_DROP_ICMP_NO_MAPPING);
		}
		s = nat_table_sess(t, id);
	} else {
		key_fill(&k, p->src, p->sport, p->proto, NAT_SIDE_INSIDE);
		id = nat_table_lookup(t, &k, now);
		if (id == MPDP_FLOWTAB_NONE) {
			const struct nat_snat *r = nat_config_snat_match(t->cfg, ntohl(p->src));

			if (r == NULL)
				return pass(t, NAT_C_PASS_NO_RULE, 1);
			/* Counted as table full or ports exhausted when it fails. */
			if (nat_table_create(t, p->proto, p->src, p->sport, r, now, &id) != 0)
				return NAT_NEXT_DROP;
		}
		s = nat_table_sess(t, id);
		nat_table_touch(s, NAT_DIR_OUT, p->tcp_flags, now);
	}
	nat_xlate_src(frame, p, s->out_addr, s->out_port);
	/* Hairpinning: to a mapped endpoint of our own, back inside as if it
	 * had gone out and come in again (RFC 4787 REQ-9). An echo request
	 * would come in as one, which is not translated inbound: it goes out. */
	if (p->kind != NAT_PKT_ECHO && nat_config_addr_index(t->cfg, ntohl(p->dst)) >= 0) {
		s = in_session(t, p, now);
		if (s != NULL) {
			nat_xlate_dst(frame, p, s->in_addr, s->in_port);
			nat_table_count(t, NAT_C_XLATE_HAIRPIN, 1);
			return NAT_NEXT_INSIDE;
		}
	}
	nat_table_count(t, NAT_C_XLATE_OUT, 1);
	return NAT_NEXT_OUTSIDE;
}

uint16_t
nat_path_packet(struct nat_table *t, uint8_t *frame, uint32_t len, int outbound, uint64_t now)
{
	struct mpdp_pkt_info info;
	struct nat_pkt p;
	enum nat_class cls;

	mpdp_pkt_parse(frame, len, &info);
	cls = nat_xlate_classify(frame, len, &info, &p);
	/* ICMP query sessions are opened from the inside (RFC 5508): echo
	 * requests go out, replies come in; the other way is not translated. */
	if (cls == NAT_CLASS_OK && p.kind == NAT_PKT_ECHO &&
	    p.icmp_type != (outbound ? NAT_ICMP_ECHO_REQUEST : NAT_ICMP_ECHO_REPLY))
		cls = NAT_CLASS_ICMP_TYPE;
	if (cls == NAT_CLASS_OK)
		return outbound ? path_out(t, frame, &p, now) : path_in(t, frame, &p, now);
	if (cls == NAT_CLASS_NOT_IP)
		return pass(t, NAT_C_PASS_NON_IP, outbound);
	if (cls == NAT_CLASS_IPV6)
		return pass(t, NAT_C_PASS_IPV6, outbound);
	/* A host the NAT does not translate is passed whatever protocol it
	 * speaks; fragments and broken headers are dropped from anyone. */
	if (outbound && cls >= NAT_CLASS_PROTO && !nat_config_inside_known(t->cfg, ntohl(p.src)))
		return pass(t, NAT_C_PASS_NO_RULE, 1);
	return drop(t, (enum nat_counter)class_drop[cls]);
}
