/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdpctl's protobuf-to-JSON converter (tools/ctl/ctl_json.h): every field
 * type, repeated fields, nested and recursive messages, oneofs, enums,
 * presence, and messages with parts missing. Outputs are compared whole,
 * and each also goes through a strict JSON reader.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_json.h"
#include "jcheck.h"
#include "json_test.pb-c.h"
#include "json_test2.pb-c.h"
#include "mpdp.pb-c.h"

/* The JSON of @p msg (malloc'd), checked to parse as exactly one value. */
static char *
to_json(const ProtobufCMessage *msg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct jcheck *v;

	assert_non_null(f);
	mpdpctl_json_message(f, msg);
	assert_int_equal(fclose(f), 0);
	v = jcheck_parse(buf, len);
	if (v == NULL)
		fail_msg("not JSON: %s", buf);
	jcheck_free(v);
	assert_null(strchr(buf, '\n'));   /* one line */
	return buf;
}

static void
expect_json(const ProtobufCMessage *msg, const char *want)
{
	char *got = to_json(msg);

	assert_string_equal(got, want);
	free(got);
}

static void
test_empty_message_has_every_scalar_and_no_oneof(void **state)
{
	Mpdptest__AllTypes m = MPDPTEST__ALL_TYPES__INIT;

	(void)state;
	expect_json(&m.base,
		    "{\"i32\":0,\"s32\":0,\"sf32\":0,\"u32\":0,\"f32\":0,\"i64\":0,\"s64\":0,\"sf64\":0,"
		    "\"u64\":0,\"f64\":0,\"fl\":0,\"db\":0,\"b\":false,\"str\":\"\",\"by\":\"\","
		    "\"color\":\"RED\",\"inner\":null,\"r_i64\":[],\"r_db\":[],\"r_b\":[],\"r_color\":[],"
		    "\"r_by\":[],\"r_inner\":[],\"r_str\":[]}");
}

static void
test_scalars_at_their_limits(void **state)
{
	Mpdptest__AllTypes m = MPDPTEST__ALL_TYPES__INIT;
	uint8_t bytes[] = { 0xff, 0x00, 'a', 'b' };

	(void)state;
	m.i32 = INT32_MIN;
	m.s32 = -7;
	m.sf32 = INT32_MAX;
	m.u32 = UINT32_MAX;
	m.f32 = 1;
	m.i64 = INT64_MIN;
	m.s64 = -1;
	m.sf64 = INT64_MAX;
	m.u64 = UINT64_MAX;
	m.f64 = 1ull << 53 | 1;          /* not exact as a double: must be written whole */
	m.fl = 0.1f;
	m.db = -0.1;
	m.b = 1;
	m.str = "q\"uote\\ tab\t nl\n \x01 caf\xc3\xa9";
	m.by.data = bytes;
	m.by.len = sizeof(bytes);
	m.color = MPDPTEST__ALL_TYPES__COLOR__BLUE;
	expect_json(&m.base,
		    "{\"i32\":-2147483648,\"s32\":-7,\"sf32\":2147483647,\"u32\":4294967295,\"f32\":1,"
		    "\"i64\":-9223372036854775808,\"s64\":-1,\"sf64\":9223372036854775807,"
		    "\"u64\":18446744073709551615,\"f64\":9007199254740993,\"fl\":0.1,"
		    "\"db\":-0.1,\"b\":true,"
		    "\"str\":\"q\\\"uote\\\\ tab\\u0009 nl\\u000a \\u0001 caf\xc3\xa9\","
		    "\"by\":\"/wBhYg==\",\"color\":\"BLUE\",\"inner\":null,\"r_i64\":[],\"r_db\":[],"
		    "\"r_b\":[],\"r_color\":[],\"r_by\":[],\"r_inner\":[],\"r_str\":[]}");
}

static void
test_not_finite_doubles_are_null(void **state)
{
	Mpdptest__AllTypes m = MPDPTEST__ALL_TYPES__INIT;
	double r[] = { 1.5, __builtin_nan(""), __builtin_inf(), -__builtin_inf() };
	char *got;

	(void)state;
	m.r_db = r;
	m.n_r_db = 4;
	got = to_json(&m.base);
	assert_non_null(strstr(got, "\"r_db\":[1.5,null,null,null]"));
	free(got);
}

static void
test_repeated_of_every_kind(void **state)
{
	Mpdptest__AllTypes m = MPDPTEST__ALL_TYPES__INIT;
	Mpdptest__Inner a = MPDPTEST__INNER__INIT, b = MPDPTEST__INNER__INIT;
	Mpdptest__Inner *inners[] = { &a, &b };
	int64_t i64[] = { -1, 0, INT64_MAX };
	protobuf_c_boolean bools[] = { 1, 0 };
	Mpdptest__AllTypes__Color colors[] = { MPDPTEST__ALL_TYPES__COLOR__GREEN,
					       MPDPTEST__ALL_TYPES__COLOR__RED };
	uint8_t one = 'M';
	ProtobufCBinaryData by[] = { { 1, &one }, { 0, NULL } };
	char *strs[] = { "x", "" };
	uint32_t nums[] = { 1, 2, 3 };
	char *got;

	(void)state;
	a.s = "a";
	a.nums = nums;
	a.n_nums = 3;
	b.s = "b";
	m.r_i64 = i64;
	m.n_r_i64 = 3;
	m.r_b = bools;
	m.n_r_b = 2;
	m.r_color = colors;
	m.n_r_color = 2;
	m.r_by = by;
	m.n_r_by = 2;
	m.r_inner = inners;
	m.n_r_inner = 2;
	m.r_str = strs;
	m.n_r_str = 2;
	got = to_json(&m.base);
	assert_non_null(strstr(got, "\"r_i64\":[-1,0,9223372036854775807]"));
	assert_non_null(strstr(got, "\"r_b\":[true,false]"));
	assert_non_null(strstr(got, "\"r_color\":[\"GREEN\",\"RED\"]"));
	assert_non_null(strstr(got, "\"r_by\":[\"TQ==\",\"\"]"));
	assert_non_null(strstr(got, "\"r_inner\":[{\"s\":\"a\",\"nums\":[1,2,3],\"next\":null},"
				    "{\"s\":\"b\",\"nums\":[],\"next\":null}]"));
	assert_non_null(strstr(got, "\"r_str\":[\"x\",\"\"]"));
	free(got);
}

static void
test_presence_fields_only_when_set(void **state)
{
	Mpdptest2__Presence m = MPDPTEST2__PRESENCE__INIT, child = MPDPTEST2__PRESENCE__INIT;

	(void)state;
	/* Unset optionals are left out; a default string is not a value. */
	expect_json(&m.base, "{\"req\":0}");
	m.has_opt_u32 = 1;
	m.opt_u32 = 0;          /* set to zero is still set */
	m.opt_str = "";
	m.with_default = "given";
	m.has_opt_b = 1;
	m.child = &child;
	child.req = -3;
	expect_json(&m.base, "{\"req\":0,\"opt_u32\":0,\"opt_str\":\"\",\"with_default\":\"given\","
			     "\"child\":{\"req\":-3},\"opt_b\":false}");
}

static void
test_oneof_writes_only_the_member_set(void **state)
{
	Mpdptest__AllTypes m = MPDPTEST__ALL_TYPES__INIT;
	Mpdptest__Inner in = MPDPTEST__INNER__INIT;
	char *got;

	(void)state;
	m.choice_case = MPDPTEST__ALL_TYPES__CHOICE_C_INT;
	m.c_int = 0;
	got = to_json(&m.base);
	assert_non_null(strstr(got, ",\"c_int\":0}"));
	assert_null(strstr(got, "c_str"));
	assert_null(strstr(got, "c_inner"));
	free(got);

	in.s = "deep";
	m.choice_case = MPDPTEST__ALL_TYPES__CHOICE_C_INNER;
	m.c_inner = &in;
	got = to_json(&m.base);
	assert_non_null(strstr(got, ",\"c_inner\":{\"s\":\"deep\",\"nums\":[],\"next\":null}}"));
	assert_null(strstr(got, "c_int"));
	free(got);

	/* A member set with nothing in it (built by hand) is null, not a crash. */
	m.c_inner = NULL;
	got = to_json(&m.base);
	assert_non_null(strstr(got, ",\"c_inner\":null}"));
	free(got);
}

static void
test_unknown_enum_value_is_its_number(void **state)
{
	Mpdptest__AllTypes m = MPDPTEST__ALL_TYPES__INIT;
	char *got;

	(void)state;
	m.color = (Mpdptest__AllTypes__Color)42;
	got = to_json(&m.base);
	assert_non_null(strstr(got, "\"color\":42,"));
	free(got);
}

static void
test_recursion_ends_in_null(void **state)
{
	Mpdptest__Inner nodes[100];
	char *got;
	size_t opens = 0;

	(void)state;
	for (int i = 0; i < 100; i++) {
		mpdptest__inner__init(&nodes[i]);
		nodes[i].next = i + 1 < 100 ? &nodes[i + 1] : NULL;
	}
	got = to_json(&nodes[0].base);
	for (const char *p = got; *p; p++)
		opens += *p == '{';
	assert_true(opens > 10 && opens < 100);
	free(got);
}

static void
test_absent_parts_never_crash(void **state)
{
	Mpdppb__StageInfo si = MPDPPB__STAGE_INFO__INIT;
	Mpdppb__StageList sl = MPDPPB__STAGE_LIST__INIT;
	Mpdppb__StageInfo *list[] = { &si, NULL };
	char *got;

	(void)state;
	si.id = NULL;            /* hand-built: no string at all */
	si.n_inputs = 3;         /* a count without an array */
	si.inputs = NULL;
	sl.stages = list;
	sl.n_stages = 2;
	got = to_json(&sl.base);
	assert_non_null(strstr(got, "{\"stages\":[{\"id\":\"\",\"kind\":\"\""));
	assert_non_null(strstr(got, "\"inputs\":[],"));
	assert_non_null(strstr(got, "},null]}"));
	free(got);
	expect_json(NULL, "null");
}

static void
test_request_shapes(void **state)
{
	Mpdppb__Request req = MPDPPB__REQUEST__INIT;
	Mpdppb__PortReq port = MPDPPB__PORT_REQ__INIT;
	Mpdppb__StageCmdReq sc = MPDPPB__STAGE_CMD_REQ__INIT;
	char *args[] = { "rule", "add", "allow tcp to port 22" };

	(void)state;
	expect_json(&req.base, "{\"version\":0,\"id\":0}");
	req.version = 1;
	req.id = 5;
	req.cmd_case = MPDPPB__REQUEST__CMD_PORT;
	req.port = &port;
	port.op = MPDPPB__PORT_REQ__OP__STOP;
	port.name = "p0";
	expect_json(&req.base, "{\"version\":1,\"id\":5,\"port\":{\"op\":\"STOP\",\"name\":\"p0\"}}");
	req.cmd_case = MPDPPB__REQUEST__CMD_STAGE_CMD;
	req.stage_cmd = &sc;
	sc.stage = "fw1";
	sc.args = args;
	sc.n_args = 3;
	sc.json = 1;
	expect_json(&req.base, "{\"version\":1,\"id\":5,\"stage_cmd\":{\"stage\":\"fw1\",\"args\":"
			       "[\"rule\",\"add\",\"allow tcp to port 22\"],\"json\":true}}");
}

/* A Response as it comes off the wire, with a field this build does not know. */
static void
test_unpacked_response_ignores_unknown_fields(void **state)
{
	Mpdppb__Response r = MPDPPB__RESPONSE__INIT, *u;
	Mpdppb__PortList pl = MPDPPB__PORT_LIST__INIT;
	Mpdppb__PortInfo p0 = MPDPPB__PORT_INFO__INIT;
	Mpdppb__PortInfo *ports[] = { &p0 };
	uint8_t buf[512];
	size_t len;
	char *got;

	(void)state;
	p0.name = "p0";
	p0.rx_bytes = UINT64_MAX;
	pl.ports = ports;
	pl.n_ports = 1;
	r.id = 9;
	r.now_ns = 123;
	r.body_case = MPDPPB__RESPONSE__BODY_PORTS;
	r.ports = &pl;
	len = mpdppb__response__pack(&r, buf);
	/* field 99, varint 7: unknown to this descriptor */
	buf[len++] = 99 << 3 & 0xff;
	buf[len - 1] |= 0x80;
	buf[len++] = 99 >> 4;
	buf[len++] = 7;
	u = mpdppb__response__unpack(NULL, len, buf);
	assert_non_null(u);
	got = to_json(&u->base);
	assert_non_null(strstr(got, "{\"id\":9,\"status\":0,\"message\":\"\",\"now_ns\":123,"
				    "\"ports\":{\"ports\":[{\"name\":\"p0\",\"driver\":\"\""));
	assert_non_null(strstr(got, "\"rx_bytes\":18446744073709551615,"));
	assert_null(strstr(got, "99"));
	free(got);
	mpdppb__response__free_unpacked(u, NULL);
}

static void
test_members_continue_an_object(void **state)
{
	Mpdppb__Patch p = MPDPPB__PATCH__INIT;
	Mpdppb__StatusReq empty = MPDPPB__STATUS_REQ__INIT;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	unsigned n;

	(void)state;
	assert_non_null(f);
	p.src = "a";
	p.dst = "b";
	fputs("{\"x\":1", f);
	n = mpdpctl_json_members(f, &p.base, 1);
	assert_int_equal(n, 3);
	assert_int_equal(mpdpctl_json_members(f, &empty.base, n), n);
	assert_int_equal(mpdpctl_json_members(f, NULL, n), n);
	fputc('}', f);
	fclose(f);
	assert_string_equal(buf, "{\"x\":1,\"src\":\"a\",\"dst\":\"b\"}");
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_message_has_every_scalar_and_no_oneof),
		cmocka_unit_test(test_scalars_at_their_limits),
		cmocka_unit_test(test_not_finite_doubles_are_null),
		cmocka_unit_test(test_repeated_of_every_kind),
		cmocka_unit_test(test_presence_fields_only_when_set),
		cmocka_unit_test(test_oneof_writes_only_the_member_set),
		cmocka_unit_test(test_unknown_enum_value_is_its_number),
		cmocka_unit_test(test_recursion_ends_in_null),
		cmocka_unit_test(test_absent_parts_never_crash),
		cmocka_unit_test(test_request_shapes),
		cmocka_unit_test(test_unpacked_response_ignores_unknown_fields),
		cmocka_unit_test(test_members_continue_an_object),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
