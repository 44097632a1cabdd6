/* SPDX-License-Identifier: BSD-3-Clause */
/* A protobuf-c message as JSON from its descriptors: see ctl_json.h for the shape. */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_json.h"
#include "mpdp_json.h"

/* Deeper than any message of mpdp.proto; a recursive type ends in null there. */
#define JSON_DEPTH_MAX 32

static void message_write(FILE *f, const ProtobufCMessage *msg, unsigned depth);
static unsigned members_write(FILE *f, const ProtobufCMessage *msg, unsigned n, unsigned depth);

static void
base64_write(FILE *f, const uint8_t *p, size_t len)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	fputc('"', f);
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		size_t left = len - i;

		if (left > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (left > 2)
			v |= p[i + 2];
		fputc(tab[v >> 18 & 63], f);
		fputc(tab[v >> 12 & 63], f);
		fputc(left > 1 ? tab[v >> 6 & 63] : '=', f);
		fputc(left > 2 ? tab[v & 63] : '=', f);
	}
	fputc('"', f);
}

/* The shortest of %.Ng that reads back as the same value (a float needs at most 9 digits). */
static void
double_write(FILE *f, double v, int is_float)
{
	char buf[40];

	if (!isfinite(v)) {
		fputs("null", f);
		return;
	}
	for (int prec = is_float ? 6 : 15; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (is_float ? strtof(buf, NULL) == (float)v : strtod(buf, NULL) == v)
			break;
	}
	fputs(buf, f);
}

/* Bytes of one element of a repeated field of @p type. */
static size_t
elem_size(ProtobufCType type)
{
	switch (type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return sizeof(uint32_t);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return sizeof(uint64_t);
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	}
	return 0;
}

/* One value of field @p fd stored at @p p. */
static void
value_write(FILE *f, const ProtobufCFieldDescriptor *fd, const void *p, unsigned depth)
{
	switch (fd->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32: {
		int32_t v;

		memcpy(&v, p, sizeof(v));
		fprintf(f, "%" PRId32, v);
		break;
	}
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32: {
		uint32_t v;

		memcpy(&v, p, sizeof(v));
		fprintf(f, "%" PRIu32, v);
		break;
	}
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64: {
		int64_t v;

		memcpy(&v, p, sizeof(v));
		fprintf(f, "%" PRId64, v);
		break;
	}
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64: {
		uint64_t v;

		memcpy(&v, p, sizeof(v));
		fprintf(f, "%" PRIu64, v);
		break;
	}
	case PROTOBUF_C_TYPE_FLOAT: {
		float v;

		memcpy(&v, p, sizeof(v));
		double_write(f, v, 1);
		break;
	}
	case PROTOBUF_C_TYPE_DOUBLE: {
		double v;

		memcpy(&v, p, sizeof(v));
		double_write(f, v, 0);
		break;
	}
	case PROTOBUF_C_TYPE_BOOL: {
		protobuf_c_boolean v;

		memcpy(&v, p, sizeof(v));
		fputs(v ? "true" : "false", f);
		break;
	}
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev;
		int v;

		memcpy(&v, p, sizeof(v));
		ev = fd->descriptor != NULL ? protobuf_c_enum_descriptor_get_value(fd->descriptor, v) : NULL;
		if (ev != NULL && ev->name != NULL)
			mpdp_json_str(f, ev->name);
		else
			fprintf(f, "%d", v);
		break;
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s;

		memcpy(&s, p, sizeof(s));
		mpdp_json_str(f, s != NULL ? s : "");
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData b;

		memcpy(&b, p, sizeof(b));
		base64_write(f, b.data, b.data != NULL ? b.len : 0);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *m;

		memcpy(&m, p, sizeof(m));
		message_write(f, m, depth + 1);
		break;
	}
	default:
		fputs("null", f);
		break;
	}
}

/* Whether a field with presence (not repeated, not LABEL_NONE) is set. */
static int
field_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd)
{
	const char *base = (const char *)msg;
	const void *ptr;

	if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		uint32_t which;

		memcpy(&which, base + fd->quantifier_offset, sizeof(which));
		return which == fd->id;
	}
	if (fd->label == PROTOBUF_C_LABEL_NONE || fd->label == PROTOBUF_C_LABEL_REQUIRED)
		return 1;
	/* LABEL_OPTIONAL: pointers are absent when NULL or the default, scalars have has_. */
	switch (fd->type) {
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		memcpy(&ptr, base + fd->offset, sizeof(ptr));
		return ptr != NULL && ptr != fd->default_value;
	default: {
		protobuf_c_boolean has;

		memcpy(&has, base + fd->quantifier_offset, sizeof(has));
		return has != 0;
	}
	}
}

static void
repeated_write(FILE *f, const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd,
	       unsigned depth)
{
	const char *base = (const char *)msg;
	const char *arr;
	size_t n, sz = elem_size(fd->type);

	memcpy(&n, base + fd->quantifier_offset, sizeof(n));
	memcpy(&arr, base + fd->offset, sizeof(arr));
	fputc('[', f);
	for (size_t i = 0; arr != NULL && sz != 0 && i < n; i++) {
		if (i > 0)
			fputc(',', f);
		value_write(f, fd, arr + i * sz, depth);
	}
	fputc(']', f);
}

static unsigned
members_write(FILE *f, const ProtobufCMessage *msg, unsigned n, unsigned depth)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;

	for (unsigned i = 0; d != NULL && i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[i];

		if (fd->label != PROTOBUF_C_LABEL_REPEATED && !field_present(msg, fd))
			continue;
		if (n++ > 0)
			fputc(',', f);
		mpdp_json_str(f, fd->name != NULL ? fd->name : "");
		fputc(':', f);
		if (fd->label == PROTOBUF_C_LABEL_REPEATED)
			repeated_write(f, msg, fd, depth);
		else
			value_write(f, fd, (const char *)msg + fd->offset, depth);
	}
	return n;
}

static void
message_write(FILE *f, const ProtobufCMessage *msg, unsigned depth)
{
	if (msg == NULL || msg->descriptor == NULL || depth > JSON_DEPTH_MAX) {
		fputs("null", f);
		return;
	}
	fputc('{', f);
	members_write(f, msg, 0, depth);
	fputc('}', f);
}

void
mpdpctl_json_message(FILE *f, const ProtobufCMessage *msg)
{
	message_write(f, msg, 0);
}

unsigned
mpdpctl_json_members(FILE *f, const ProtobufCMessage *msg, unsigned n)
{
	if (msg == NULL || msg->descriptor == NULL)
		return n;
	return members_write(f, msg, n, 0);
}
