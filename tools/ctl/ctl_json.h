/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Any protobuf-c message as JSON, from its descriptors alone (mpdpctl --json).
 *
 * The shape, which scripts rely on (doc/control.md):
 * - an object with one member per field, named as in the .proto (snake_case),
 *   in the .proto's order;
 * - proto3 scalars (no presence) are always written, zero included, so every
 *   key is there; fields with presence (proto2 optional, proto3 `optional`)
 *   are written only when set;
 * - integers, 64-bit ones included, are JSON numbers; floats and doubles are
 *   numbers, NaN and infinities null; bools true/false;
 * - strings are escaped by mpdp_json; bytes are base64 strings;
 * - enums are their value names ("LIST"), or the number when unknown;
 * - repeated fields are arrays (empty when there is none);
 * - a message field is an object, or null when absent;
 * - of a oneof, only the member that is set is written (none when unset).
 */
#ifndef MPDPCTL_JSON_H
#define MPDPCTL_JSON_H

#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

/**
 * Write @p msg as one JSON object on @p f, on one line (no newline).
 *
 * @param msg  NULL writes null
 */
void mpdpctl_json_message(FILE *f, const ProtobufCMessage *msg);

/**
 * Write the members of @p msg without the braces, so a caller can add its
 * own members to the same object.
 *
 * @param n  members already written into the object (for the commas)
 * @return @p n plus the members written here
 */
unsigned mpdpctl_json_members(FILE *f, const ProtobufCMessage *msg, unsigned n);

#endif /* MPDPCTL_JSON_H */
