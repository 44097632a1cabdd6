/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * mpdp-nat per-packet path: classify a frame, find (or make) its session,
 * translate it, count what happened, and say where it goes. Everything the
 * stage does to one packet, without the stage framework, so the tests
 * drive it frame by frame with a hand-driven clock.
 */
#ifndef NAT_PATH_H
#define NAT_PATH_H

#include <stdint.h>

#include "nat_table.h"

/** The outputs of mpdp-nat, in the order of its next_names. */
enum nat_next {
	NAT_NEXT_DROP = 0,      /**< freed, counted by reason */
	NAT_NEXT_INSIDE = 1,    /**< towards the inside network */
	NAT_NEXT_OUTSIDE = 2,   /**< towards the outside network */
	NAT_N_NEXT,
};

/**
 * Handle one frame: translate it in place and count it in the table's zone.
 *
 * Outbound (from an inside input): the source side is translated through
 * its session, made on the first packet by the --snat rule of its source;
 * a destination that is a mapped outside endpoint is translated too
 * (hairpinning) and the frame goes back inside. Inbound: the destination
 * side is translated through the session of the outside endpoint it is
 * sent to, whatever its source (endpoint-independent filtering).
 *
 * @param frame  the Ethernet frame, changed in place
 * @param len  its length; nothing past it is read
 * @param outbound  1 for a frame from the inside, 0 from the outside
 * @param now  CLOCK_MONOTONIC in ns (sessions refresh and expire by it)
 * @return enum nat_next
 */
uint16_t nat_path_packet(struct nat_table *t, uint8_t *frame, uint32_t len, int outbound,
			 uint64_t now);

#endif /* NAT_PATH_H */
