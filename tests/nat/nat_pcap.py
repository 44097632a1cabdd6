#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Frames for test_nat_stage.sh, and the check of what mpdp-nat made of them.

  nat_pcap.py gen DIR     write DIR/lan-in.pcap (inside to outside) and
                          DIR/wan-in.pcap (the replies, and some strays)
  nat_pcap.py check DIR   read DIR/wan-out.pcap and DIR/lan-out.pcap and check
                          every frame: its addresses and ports as the NAT's
                          allocation rules predict, and every checksum
                          recomputed from scratch

The NAT runs with --snat 10.0.0.0/8=192.0.2.1-192.0.2.4:1024-65535
--dnat 192.0.2.1:8080=10.0.0.5:80/tcp, so 10.0.0.6 maps to 192.0.2.3
(0x0a000006 % 4 = 2) and 10.0.0.7 to 192.0.2.4, ports kept, and ICMP
identifier 7 (below the range) becomes 1024.
"""
import socket
import struct
import sys

SERVER = "203.0.113.9"


def cksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def a(s):
    return socket.inet_aton(s)


def ipv4(src, dst, proto, l4, frag=0):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0x1234, frag, 64, proto, 0, a(src), a(dst))
    hdr = hdr[:10] + struct.pack("!H", cksum(hdr)) + hdr[12:]
    return hdr + l4


def l4_sum(src, dst, proto, seg):
    return cksum(a(src) + a(dst) + struct.pack("!BBH", 0, proto, len(seg)) + seg)


def udp(src, dst, sp, dp, payload=b"hello", frag=0):
    seg = struct.pack("!HHHH", sp, dp, 8 + len(payload), 0) + payload
    c = l4_sum(src, dst, 17, seg) or 0xFFFF
    return ipv4(src, dst, 17, seg[:6] + struct.pack("!H", c) + seg[8:], frag)


def tcp(src, dst, sp, dp, flags, payload=b""):
    seg = struct.pack("!HHIIBBHHH", sp, dp, 1, 0, 5 << 4, flags, 65535, 0, 0) + payload
    c = l4_sum(src, dst, 6, seg)
    return ipv4(src, dst, 6, seg[:16] + struct.pack("!H", c) + seg[18:])


def icmp(src, dst, typ, ident, payload=b"pingpong"):
    msg = struct.pack("!BBHHH", typ, 0, 0, ident, 1) + payload
    return ipv4(src, dst, 1, msg[:2] + struct.pack("!H", cksum(msg)) + msg[4:])


def eth(packet, ethertype=0x0800):
    return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01" + struct.pack("!H", ethertype) + packet


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000 + i, 0, len(fr), len(fr)) + fr)


def read_pcap(path):
    data = open(path, "rb").read()
    off, frames = 24, []
    while off + 16 <= len(data):
        _, _, caplen, _ = struct.unpack("<IIII", data[off:off + 16])
        frames.append(data[off + 16:off + 16 + caplen])
        off += 16 + caplen
    return frames


def gen(d):
    arp = eth(bytes(28), 0x0806)
    write_pcap(d + "/lan-in.pcap", [
        eth(udp("10.0.0.6", SERVER, 5000, 53)),
        eth(tcp("10.0.0.7", SERVER, 40000, 80, 0x02)),
        eth(icmp("10.0.0.6", SERVER, 8, 7)),
        arp,
        eth(udp("11.0.0.1", SERVER, 1, 2)),                    # no rule: passed as is
        eth(udp("10.0.0.6", SERVER, 5000, 53, frag=0x2000)),   # fragment: dropped
    ])
    write_pcap(d + "/wan-in.pcap", [
        eth(udp(SERVER, "192.0.2.3", 53, 5000, b"answer")),
        eth(tcp(SERVER, "192.0.2.4", 80, 40000, 0x12)),
        eth(icmp(SERVER, "192.0.2.3", 0, 1024)),
        eth(udp(SERVER, "192.0.2.3", 53, 5001)),               # no mapping: dropped
        eth(tcp("198.51.100.7", "192.0.2.1", 33333, 8080, 0x02)),  # DNAT
    ])


def parse(fr):
    """(src, dst, proto, sport, dport) of an IPv4 frame, after checking every checksum."""
    ip = fr[14:]
    ihl = (ip[0] & 15) * 4
    tot = struct.unpack("!H", ip[2:4])[0]
    assert cksum(ip[:ihl]) == 0, "IPv4 header checksum"
    proto, src, dst = ip[9], socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
    seg = ip[ihl:tot]
    if proto in (6, 17):
        sp, dp = struct.unpack("!HH", seg[:4])
        if not (proto == 17 and seg[6:8] == b"\0\0"):
            assert l4_sum(src, dst, proto, seg) == 0, "L4 checksum"
        return src, dst, proto, sp, dp
    assert cksum(seg) == 0, "ICMP checksum"
    return src, dst, proto, seg[0], struct.unpack("!H", seg[4:6])[0]


def check(d):
    wan = read_pcap(d + "/wan-out.pcap")
    lan = read_pcap(d + "/lan-out.pcap")
    want_wan = [
        ("192.0.2.3", SERVER, 17, 5000, 53),
        ("192.0.2.4", SERVER, 6, 40000, 80),
        ("192.0.2.3", SERVER, 1, 8, 1024),
        None,                                    # the ARP frame, untouched
        ("11.0.0.1", SERVER, 17, 1, 2),
    ]
    want_lan = [
        (SERVER, "10.0.0.6", 17, 53, 5000),
        (SERVER, "10.0.0.7", 6, 80, 40000),
        (SERVER, "10.0.0.6", 1, 0, 7),
        ("198.51.100.7", "10.0.0.5", 6, 33333, 80),
    ]
    bad = 0
    for name, got, want in (("wan", wan, want_wan), ("lan", lan, want_lan)):
        if len(got) != len(want):
            print("not ok - %s-out.pcap has %d frames, want %d" % (name, len(got), len(want)))
            bad += 1
            continue
        for i, (fr, w) in enumerate(zip(got, want)):
            try:
                if w is None:
                    assert fr[12:14] == b"\x08\x06", "ARP passed unchanged"
                else:
                    g = parse(fr)
                    assert g == w, "%s != %s" % (g, w)
                print("ok - %s frame %d %s" % (name, i + 1, w))
            except AssertionError as e:
                print("not ok - %s frame %d: %s" % (name, i + 1, e))
                bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(sys.argv[2])
    else:
        sys.exit(check(sys.argv[2]))
