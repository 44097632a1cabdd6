/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * First-match classification of packet keys against a ruleset, without a
 * linear scan.
 *
 * Each field a rule can constrain (source and destination address,
 * protocol, ports, TCP flags, ICMP type, VLAN, input port, input ring,
 * connection state) is a dimension. Building cuts each dimension into
 * equivalence classes: runs of values matched by the same set of rules. A
 * lookup maps each field of the key to its class (binary search over
 * interval boundaries for addresses, a direct table for the rest) and
 * intersects the classes' rule bit vectors; the first set bit is the first
 * matching rule. Each class keeps an aggregated bit vector, one bit per
 * 64-rule word that is not zero (Baboescu and Varghese, "Scalable Packet
 * Classification", 2001), so the intersection only reads the words where
 * every dimension may match, in rule order, and stops at the first hit.
 * Rules that do not constrain a dimension are kept once per dimension, not
 * once per class, and a dimension no rule constrains is skipped.
 *
 * The result is the same as testing fw_rule_match() on each rule in order.
 * A classifier is read-only once built: any number of threads may classify
 * with it at once.
 */
#ifndef FW_CLASSIFY_H
#define FW_CLASSIFY_H

#include <stddef.h>
#include <stdint.h>

#include "fw_rules.h"
#include "mpdp_err.h"

/** fw_classify() when no rule matches. */
#define FW_NO_MATCH UINT32_MAX

/**
 * Most memory a classifier's class records may take; a ruleset that needs
 * more is refused with -ENOMEM rather than left to exhaust the machine.
 * Realistic sets of 10,000 rules take a few MiB; the worst possible set of
 * FW_RULES_MAX rules would take several GiB.
 */
#define FW_CLASSIFY_MEMORY_MAX (1ull << 30)

struct fw_classifier;

/**
 * Build a classifier for a ruleset. The classifier does not refer to the
 * ruleset afterwards; results are indexes into rs->rules.
 *
 * @param rs  the rules, at most FW_RULES_MAX
 * @param out  receives the classifier
 * @param eb  the reason on failure, or NULL
 * @return 0; -ENOMEM when out of memory or over FW_CLASSIFY_MEMORY_MAX
 *         (which dimension and how many classes in @p eb);
 *         -EINVAL for a rule that fw_rules_parse() would not have made
 *         (port 0, VLAN id over 4095, a bad prefix, too many rules);
 *         -E2BIG for an input ring index over 65534
 */
int fw_classifier_build(const struct fw_ruleset *rs, struct fw_classifier **out,
			struct mpdp_errbuf *eb);

/**
 * The first rule that matches a key.
 *
 * @param c  the classifier
 * @param k  the key (a key of family 0 matches only rules that need no IP field)
 * @return the rule's index in the ruleset, or FW_NO_MATCH
 */
uint32_t fw_classify(const struct fw_classifier *c, const struct fw_key *k);

/**
 * fw_classify() for a burst of keys. Today a loop over fw_classify():
 * doing all the keys' field lookups first measured no faster.
 *
 * @param c  the classifier
 * @param keys  @p n keys
 * @param n  how many
 * @param out  receives @p n results
 */
void fw_classify_burst(const struct fw_classifier *c, const struct fw_key *keys, unsigned n,
		       uint32_t *out);

/**
 * Free a classifier.
 *
 * @param c  the classifier, or NULL
 */
void fw_classifier_free(struct fw_classifier *c);

/**
 * Bytes a classifier holds.
 *
 * @param c  the classifier
 * @return the size of everything it allocated
 */
size_t fw_classifier_memory(const struct fw_classifier *c);

#endif /* FW_CLASSIFY_H */
