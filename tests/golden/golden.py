#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Golden traffic for the end-to-end tests of mpdp-fw and mpdp-nat.

    golden.py gen OUTDIR
        fw-in.pcap fw.rules fw-expect.json
        nat-in.pcap nat-split.rules nat.args nat-expect.json
    golden.py check EXPECT.json NAME=OUT.pcap [NAME=OUT.pcap]...
        TAP: each output holds exactly the expected packets, in order, with
        every header field, payload byte and checksum as expected; exit 0
        only when every check passes (2: bad command line or unreadable file)
    golden.py selftest
        gen into a temporary directory, check perfect outputs (must pass),
        then broken ones (each must fail, with a precise message)

Everything is built, parsed and checksummed here, with the standard library
only, independently of the C code under test. The expectations come from
the scenario as written below (the firewall: a verdict per packet, by hand)
and from a model of the NAT's translation rules (the NAT). Output is
deterministic: no clock, no randomness. See README.md beside this file.
"""

import argparse
import io
import ipaddress
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

START_SEC = 1767225600          # 2026-01-01 00:00:00 UTC, as mpdp-gentraffic
STEP_USEC = 1000                # 1 ms between frames
SNAPLEN = 65535
LINKTYPE_ETHERNET = 1
MIN_FRAME = 60                  # 64 on the wire less the FCS; padding is outside the IP length

ET_IPV4 = 0x0800
ET_ARP = 0x0806
ET_VLAN = 0x8100
ET_QINQ = 0x88a8
ET_IPV6 = 0x86dd
ET_LLDP = 0x88cc

P_ICMP = 1
P_TCP = 6
P_UDP = 17
P_GRE = 47
P_ICMP6 = 58
P_FRAG6 = 44

FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
FLAG_LETTERS = ((FIN, 'F'), (SYN, 'S'), (RST, 'R'), (PSH, 'P'), (ACK, 'A'), (URG, 'U'),
                (ECE, 'E'), (CWR, 'W'))

ICMP4_NAMES = {0: 'echo-reply', 3: 'dest-unreach', 4: 'source-quench', 5: 'redirect',
               8: 'echo-request', 11: 'time-exceeded', 12: 'param-problem',
               13: 'timestamp', 14: 'timestamp-reply'}
ICMP4_ERRORS = (3, 4, 5, 11, 12)
ICMP4_QUERIES = (0, 8, 13, 14, 15, 16, 17, 18)
ICMP6_NAMES = {1: 'dest-unreach', 2: 'packet-too-big', 3: 'time-exceeded', 4: 'param-problem',
               128: 'echo-request', 129: 'echo-reply', 135: 'neighbor-solicitation',
               136: 'neighbor-advertisement'}

ROUTER_ALERT = b'\x94\x04\x00\x00'  # IPv4 option 148, RFC 2113: one 32-bit word

BCAST = b'\xff' * 6
LLDP_MCAST = bytes.fromhex('0180c200000e')


def addr(s):
    return ipaddress.ip_address(s)


# ---------------------------------------------------------------------------
# Checksums (RFC 1071, and RFC 1624 for incremental updates)

def ones_sum(data, s=0):
    """Ones' complement sum of big-endian 16-bit words, folded to 16 bits."""
    if len(data) % 2:
        data = bytes(data) + b'\0'
    s += sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s


def inet_csum(data):
    return ~ones_sum(data) & 0xffff


def pseudo_header(src, dst, proto, length):
    if src.version == 4:
        return src.packed + dst.packed + struct.pack('!BBH', 0, proto, length)
    return src.packed + dst.packed + struct.pack('!I3xB', length, proto)


def l4_csum(src, dst, proto, seg):
    """The checksum a segment must carry (its checksum field counted as is: zero it first)."""
    if proto == P_ICMP:
        return inet_csum(seg)
    c = inet_csum(pseudo_header(src, dst, proto, len(seg)) + bytes(seg))
    if proto == P_UDP and c == 0:
        c = 0xffff          # 0 means "no checksum" (RFC 768)
    return c


def csum_adjust(hc, old, new):
    """RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') over each changed 16-bit word."""
    s = ~hc & 0xffff
    for i in range(0, len(old), 2):
        s += ~((old[i] << 8) | old[i + 1]) & 0xffff
        s += (new[i] << 8) | new[i + 1]
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def get16(b, o):
    return (b[o] << 8) | b[o + 1]


def put16(b, o, v):
    b[o] = (v >> 8) & 0xff
    b[o + 1] = v & 0xff


# ---------------------------------------------------------------------------
# pcap: classic, little-endian, microseconds, link type 1

def write_pcap(path, frames):
    with open(path, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET))
        for i, fr in enumerate(frames):
            usec = i * STEP_USEC
            f.write(struct.pack('<IIII', START_SEC + usec // 1000000, usec % 1000000,
                                len(fr), len(fr)))
            f.write(fr)


def read_pcap(path):
    """The frames of a classic pcap (either byte order, micro or nano); raises ValueError."""
    with open(path, 'rb') as f:
        data = f.read()
    if len(data) < 24:
        raise ValueError('%s: %d bytes, not a pcap file' % (path, len(data)))
    magic_le = struct.unpack('<I', data[:4])[0]
    if magic_le in (0xa1b2c3d4, 0xa1b23c4d):
        e = '<'
    elif magic_le in (0xd4c3b2a1, 0x4d3cb2a1):
        e = '>'
    elif magic_le == 0x0a0d0d0a:
        raise ValueError('%s: pcapng, not classic pcap' % path)
    else:
        raise ValueError('%s: bad magic 0x%08x' % (path, magic_le))
    linktype = struct.unpack(e + 'I', data[20:24])[0]
    if linktype != LINKTYPE_ETHERNET:
        raise ValueError('%s: link type %d, not Ethernet (1)' % (path, linktype))
    frames = []
    off = 24
    while off < len(data):
        if off + 16 > len(data):
            raise ValueError('%s: truncated record header at offset %d' % (path, off))
        _, _, incl, orig = struct.unpack(e + 'IIII', data[off:off + 16])
        off += 16
        if off + incl > len(data):
            raise ValueError('%s: truncated record %d' % (path, len(frames) + 1))
        if incl != orig:
            raise ValueError('%s: record %d cut (%d of %d bytes)' % (path, len(frames) + 1,
                                                                       incl, orig))
        frames.append(data[off:off + incl])
        off += incl
    return frames


# ---------------------------------------------------------------------------
# Frame building

def mac_of(a):
    """gentraffic's convention: 02:00 (IPv4) or 02:06 (IPv6), then the low 32 bits."""
    if a.version == 6 and a.is_multicast:
        return b'\x33\x33' + a.packed[12:]
    return (b'\x02\x00' if a.version == 4 else b'\x02\x06') + a.packed[-4:]


def mac_str(m):
    return ':'.join('%02x' % x for x in m)


def eth(dmac, smac, etype, payload, vlan=None):
    h = dmac + smac
    if vlan is not None:
        h += struct.pack('!HH', ET_VLAN, vlan)
    f = h + struct.pack('!H', etype) + payload
    return f + bytes(max(0, MIN_FRAME - len(f)))


def ipv4_header(src, dst, proto, plen, ident, df=True, mf=False, frag=0, ttl=64, options=b''):
    assert len(options) % 4 == 0 and frag % 8 == 0
    hl = 20 + len(options)
    ff = (0x4000 if df else 0) | (0x2000 if mf else 0) | (frag >> 3)
    h = bytearray(struct.pack('!BBHHHBBH4s4s', 0x40 | hl // 4, 0, hl + plen, ident, ff, ttl, proto,
                              0, src.packed, dst.packed) + options)
    put16(h, 10, inet_csum(h))
    return bytes(h)


def tcp_seg(src, dst, sport, dport, seq, ack, flags, win, payload=b'', options=b''):
    hl = 20 + len(options)
    s = bytearray(struct.pack('!HHIIBBHHH', sport, dport, seq, ack, (hl // 4) << 4, flags, win,
                              0, 0) + options + payload)
    put16(s, 16, l4_csum(src, dst, P_TCP, s))
    return bytes(s)


def udp_seg(src, dst, sport, dport, payload, no_csum=False):
    s = bytearray(struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload)
    if not no_csum:
        put16(s, 6, l4_csum(src, dst, P_UDP, s))
    return bytes(s)


def icmp_seg(typ, code, body):
    """ICMPv4: type, code, checksum, then body (rest of header and data)."""
    s = bytearray(struct.pack('!BBH', typ, code, 0) + body)
    put16(s, 2, inet_csum(s))
    return bytes(s)


def icmp6_seg(src, dst, typ, code, body):
    s = bytearray(struct.pack('!BBH', typ, code, 0) + body)
    put16(s, 2, l4_csum(src, dst, P_ICMP6, s))
    return bytes(s)


def ping_data(n=56):
    return bytes((0x10 + k) & 0xff for k in range(n))   # ping's pattern


def dns_name(name):
    out = b''
    for label in name.split('.'):
        out += bytes([len(label)]) + label.encode()
    return out + b'\0'


def dns_query(qid, name):
    return struct.pack('!HHHHHH', qid, 0x0100, 1, 0, 0, 0) + dns_name(name) + struct.pack('!HH', 1, 1)


def dns_answer(qid, name, ip):
    q = dns_name(name) + struct.pack('!HH', 1, 1)
    a = struct.pack('!HHHIH', 0xc00c, 1, 1, 300, 4) + addr(ip).packed
    return struct.pack('!HHHHHH', qid, 0x8180, 1, 1, 0, 0) + q + a


HTTP_GET = (b'GET /index.html HTTP/1.1\r\nHost: www.example.com\r\n'
            b'User-Agent: golden/1\r\nAccept: */*\r\n\r\n')
HTTP_OK = (b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n'
           b'hello, world\n')


def arp_frame(op, sha, spa, tha, tpa, dmac):
    body = struct.pack('!HHBBH6s4s6s4s', 1, ET_IPV4, 6, 4, op, sha, addr(spa).packed, tha,
                       addr(tpa).packed)
    return eth(dmac, sha, ET_ARP, body)


def lldp_frame():
    mac = b'\x02\x4c\x4c\x44\x50\x01'

    def tlv(t, v):
        return struct.pack('!H', t << 9 | len(v)) + v
    body = (tlv(1, b'\x04' + mac) + tlv(2, b'\x05ge-0/0/1') + tlv(3, struct.pack('!H', 120)) +
            tlv(5, b'golden-sw1') + tlv(0, b''))
    return eth(LLDP_MCAST, mac, ET_LLDP, body)


class Builder:
    """Input frames in time order, each with a note saying what it is."""

    def __init__(self):
        self.frames = []        # {'bytes', 'outcome', 'why'}
        self.ipid = {}

    def add(self, frame, outcome=None, why=''):
        self.frames.append({'bytes': bytes(frame), 'outcome': outcome, 'why': why})
        return len(self.frames)         # its frame number, from 1

    def next_id(self, src):
        """IPv4 identification: one incrementing counter per sender."""
        k = int(src)
        v = self.ipid.get(k, 0x1000 + (k & 0xff) * 0x100) & 0xffff
        self.ipid[k] = v + 1
        return v

    def ip4(self, src, dst, proto, seg, df=True, vlan=None, options=b'', ttl=64, mf=False, frag=0,
            plen=None, dmac=None):
        ip = ipv4_header(src, dst, proto, len(seg) if plen is None else plen, self.next_id(src),
                         df, mf, frag, ttl, options)
        return eth(dmac or mac_of(dst), mac_of(src), ET_IPV4, ip + seg, vlan)

    def ip6(self, src, dst, nh, seg, vlan=None, hlim=64, flow=0, ext=b'', dmac=None):
        h = struct.pack('!IHBB16s16s', 6 << 28 | flow, len(ext) + len(seg), P_FRAG6 if ext else nh,
                        hlim, src.packed, dst.packed)
        return eth(dmac or mac_of(dst), mac_of(src), ET_IPV6, h + ext + seg, vlan)

    def ip(self, src, dst, proto, seg, **kw):
        if src.version == 4:
            return self.ip4(src, dst, proto, seg, **kw)
        kw.pop('df', None)
        kw.pop('options', None)
        return self.ip6(src, dst, proto, seg, flow=(int(src) ^ int(dst)) & 0xfffff, **kw)

    def udp(self, src, dst, sport, dport, payload, no_csum=False, **kw):
        src, dst = addr(src), addr(dst)
        kw.setdefault('df', False)
        return self.ip(src, dst, P_UDP, udp_seg(src, dst, sport, dport, payload, no_csum), **kw)

    def echo(self, src, dst, ident, seq, reply=False, n=56, **kw):
        src, dst = addr(src), addr(dst)
        body = struct.pack('!HH', ident, seq) + ping_data(n)
        if src.version == 4:
            return self.ip4(src, dst, P_ICMP, icmp_seg(0 if reply else 8, 0, body), **kw)
        return self.ip(src, dst, P_ICMP6, icmp6_seg(src, dst, 129 if reply else 128, 0, body), **kw)

    def icmp_error(self, src, dst, typ, code, about, quote=None, rest=0):
        """An ICMPv4 error from src to dst quoting the IP packet of frame `about`
        (its IP header and `quote` bytes of what follows; None: all of it)."""
        src, dst = addr(src), addr(dst)
        off = l3_offset(about)[0]
        ip = about[off:]
        hl = (ip[0] & 15) * 4
        tot = get16(ip, 2)
        q = ip[:tot] if quote is None else ip[:hl + quote]
        return self.ip4(src, dst, P_ICMP, icmp_seg(typ, code, struct.pack('!I', rest) + q), df=False)


class TcpConn:
    """One TCP connection: sequence and acknowledgement numbers follow the bytes sent."""

    def __init__(self, g, cli, cport, srv, sport, isn_c, isn_s, vlan=None):
        self.g = g
        self.cli, self.srv = addr(cli), addr(srv)
        self.cport, self.sport = cport, sport
        self.c_nxt, self.s_nxt = isn_c, isn_s
        self.vlan = vlan

    def seg(self, from_cli, flags, payload=b'', ip_options=b'', mss=False, win=None):
        if from_cli:
            src, dst, sp, dp, seq, ack = self.cli, self.srv, self.cport, self.sport, self.c_nxt, self.s_nxt
        else:
            src, dst, sp, dp, seq, ack = self.srv, self.cli, self.sport, self.cport, self.s_nxt, self.c_nxt
        opts = struct.pack('!BBH', 2, 4, 1460 if src.version == 4 else 1440) if mss else b''
        if win is None:
            win = 64240 if flags & SYN else 502
        s = tcp_seg(src, dst, sp, dp, seq, ack if flags & ACK else 0, flags, win, payload, opts)
        n = len(payload) + (1 if flags & (SYN | FIN) else 0)
        if from_cli:
            self.c_nxt = (self.c_nxt + n) & 0xffffffff
        else:
            self.s_nxt = (self.s_nxt + n) & 0xffffffff
        return self.g.ip(src, dst, P_TCP, s, options=ip_options, vlan=self.vlan)

    def syn(self, **kw):
        return self.seg(True, SYN, mss=True, **kw)

    def synack(self, **kw):
        return self.seg(False, SYN | ACK, mss=True, **kw)

    def ack(self, from_cli=True, **kw):
        return self.seg(from_cli, ACK, **kw)

    def push(self, from_cli, data, **kw):
        return self.seg(from_cli, PSH | ACK, data, **kw)

    def fin(self, from_cli=True, **kw):
        return self.seg(from_cli, FIN | ACK, **kw)


def l3_offset(frame):
    """(offset of the L3 header, EtherType) after any 802.1Q/802.1ad tags."""
    off = 12
    et = get16(frame, off)
    while et in (ET_VLAN, ET_QINQ) and off + 6 <= len(frame):
        off += 4
        et = get16(frame, off)
    return off + 2, et


def mutate(frame, edits, fix_ip=False):
    """Frame with bytes replaced at L3-relative offsets: edits = [(l3 offset, bytes)]."""
    b = bytearray(frame)
    off = l3_offset(b)[0]
    for o, v in edits:
        b[off + o:off + o + len(v)] = v
    if fix_ip:
        hl = (b[off] & 15) * 4
        put16(b, off + 10, 0)
        put16(b, off + 10, inet_csum(b[off:off + hl]))
    return bytes(b)


# ---------------------------------------------------------------------------
# Parsing: every header field, by name, with every checksum verified

class Parsed:
    def __init__(self, frame):
        self.frame = frame
        self.fields = []        # (name, value) in frame order
        self.csums = []         # (kind, field, ok, got, should)
        self.malformed = None
        self.summary = ''
        self.short_quote = False    # an ICMP error quoting part of a packet

    def add(self, name, value):
        self.fields.append((name, value))

    def bad(self, why):
        if self.malformed is None:
            self.malformed = why

    def csum(self, kind, field, got, should):
        ok = got == should or (kind != 'udp' and {got, should} == {0, 0xffff})
        self.csums.append((kind, field, ok, got, should))


def flags_str(f):
    return ''.join(c for bit, c in FLAG_LETTERS if f & bit) or '.'


def parse(frame):
    p = Parsed(frame)
    try:
        parse_eth(p, frame)
    except (IndexError, struct.error, ValueError) as e:
        p.bad('parser: %s' % e)
        p.add('raw', bytes(frame))
    return p


def parse_eth(p, f):
    p.add('frame.len', len(f))
    if len(f) < 14:
        p.bad('frame of %d bytes' % len(f))
        p.add('raw', bytes(f))
        p.summary = 'runt frame'
        return
    p.add('eth.dst', mac_str(f[0:6]))
    p.add('eth.src', mac_str(f[6:12]))
    off, n, tags = 12, 0, ''
    et = get16(f, off)
    while et in (ET_VLAN, ET_QINQ) and off + 6 <= len(f):
        p.add('vlan%d.tpid' % n, '0x%04x' % et)
        p.add('vlan%d.tci' % n, get16(f, off + 2))
        tags += 'vlan %d ' % (get16(f, off + 2) & 0xfff)
        off += 4
        n += 1
        et = get16(f, off)
    p.add('eth.type', '0x%04x' % et)
    b = f[off + 2:]
    if et == ET_IPV4:
        end = parse_ipv4(p, b, 'ip', outer=True)
    elif et == ET_IPV6:
        end = parse_ipv6(p, b, 'ip6', outer=True)
    elif et == ET_ARP and len(b) >= 28:
        fields = struct.unpack('!HHBBH6s4s6s4s', b[:28])
        for name, v in zip(('htype', 'ptype', 'hlen', 'plen', 'op'), fields[:5]):
            p.add('arp.' + name, v)
        p.add('arp.sha', mac_str(fields[5]))
        p.add('arp.spa', str(ipaddress.IPv4Address(fields[6])))
        p.add('arp.tha', mac_str(fields[7]))
        p.add('arp.tpa', str(ipaddress.IPv4Address(fields[8])))
        p.summary = ('ARP who-has %s tell %s' % (p_get(p, 'arp.tpa'), p_get(p, 'arp.spa'))
                     if fields[4] == 1 else
                     'ARP %s is-at %s' % (p_get(p, 'arp.spa'), p_get(p, 'arp.sha')))
        end = 28
    else:
        p.add('l2.payload', bytes(b))
        p.summary = 'EtherType 0x%04x, %d bytes' % (et, len(b))
        end = len(b)
    p.add('trailer', bytes(b[end:]))
    p.summary = tags + p.summary


def p_get(p, name):
    for n, v in p.fields:
        if n == name:
            return v
    return None


def parse_ipv4(p, b, pre, outer):
    """IPv4 header and what follows; returns where the datagram ends in b (outer)."""
    if len(b) < 20:
        if outer:
            p.bad('truncated IPv4 header (%d bytes)' % len(b))
        p.add(pre + '.truncated', bytes(b))
        p.summary = 'truncated IPv4 header'
        return len(b)
    ver, ihl = b[0] >> 4, b[0] & 15
    p.add(pre + '.version', ver)
    p.add(pre + '.ihl', ihl)
    if ver != 4 or ihl < 5 or len(b) < ihl * 4:
        why = 'IPv4 version %d' % ver if ver != 4 else 'IHL %d' % ihl
        if outer:
            p.bad(why)
        p.add(pre + '.rest', bytes(b[1:]))
        p.summary = 'IPv4 with ' + why
        return len(b)
    hl = ihl * 4
    tos, tot, ident, ff, ttl, proto, csum = struct.unpack('!BHHHBBH', b[1:12])
    src, dst = ipaddress.IPv4Address(bytes(b[12:16])), ipaddress.IPv4Address(bytes(b[16:20]))
    for name, v in (('tos', tos), ('len', tot), ('id', ident),
                    ('flags', ' '.join(n for bit, n in ((0x8000, 'RF'), (0x4000, 'DF'),
                                                         (0x2000, 'MF')) if ff & bit) or '-'),
                    ('frag_offset', (ff & 0x1fff) * 8), ('ttl', ttl), ('proto', proto),
                    ('checksum', csum), ('src', str(src)), ('dst', str(dst)),
                    ('options', bytes(b[20:hl]))):
        p.add(pre + '.' + name, v)
    h = bytearray(b[:hl])
    put16(h, 10, 0)
    p.csum('ipv4', pre + '.checksum', csum, inet_csum(h))
    if tot < hl or (outer and tot > len(b)):
        if outer:
            p.bad('IPv4 total length %d with %d bytes after the Ethernet header, header %d'
                  % (tot, len(b), hl))
        p.add(pre + '.rest', bytes(b[hl:]))
        p.summary = 'IPv4 %s > %s, total length %d, %d bytes' % (src, dst, tot, len(b))
        return len(b)
    end = min(tot, len(b))
    complete = tot <= len(b)        # a quote in an ICMP error may be short
    if not complete:
        p.short_quote = True
    payload = b[hl:end]
    frag = ff & 0x1fff
    fragment = frag or ff & 0x2000
    if frag:
        p.add(pre + '.fragment', bytes(payload))
        p.summary = 'IPv4 fragment %s > %s proto %d offset %d, %d bytes' % (
            src, dst, proto, frag * 8, len(payload))
        return end
    parse_l4(p, pre, proto, payload, src, dst, outer, verify=complete and not fragment,
             first_fragment=bool(fragment))
    if fragment:
        p.summary += ' (first fragment)'
    return end


def parse_ipv6(p, b, pre, outer):
    if len(b) < 40:
        if outer:
            p.bad('truncated IPv6 header (%d bytes)' % len(b))
        p.add(pre + '.truncated', bytes(b))
        p.summary = 'truncated IPv6 header'
        return len(b)
    vtf, plen, nh, hlim = struct.unpack('!IHBB', b[:8])
    src, dst = ipaddress.IPv6Address(bytes(b[8:24])), ipaddress.IPv6Address(bytes(b[24:40]))
    for name, v in (('version', vtf >> 28), ('tclass', (vtf >> 20) & 0xff),
                    ('flow', vtf & 0xfffff), ('plen', plen), ('nh', nh), ('hlim', hlim),
                    ('src', str(src)), ('dst', str(dst))):
        p.add(pre + '.' + name, v)
    if vtf >> 28 != 6:
        if outer:
            p.bad('IPv6 version %d' % (vtf >> 28))
    if outer and 40 + plen > len(b):
        p.bad('IPv6 payload length %d with %d bytes after the header' % (plen, len(b) - 40))
        p.add(pre + '.rest', bytes(b[40:]))
        p.summary = 'IPv6 %s > %s, payload length %d, %d bytes' % (src, dst, plen, len(b) - 40)
        return len(b)
    end = min(40 + plen, len(b))
    complete = 40 + plen <= len(b)
    if not complete:
        p.short_quote = True
    off, fragment = 40, False
    while nh in (0, 43, 60, P_FRAG6) and off + 8 <= end:
        if nh == P_FRAG6:
            nxt, _, offm, ident = struct.unpack('!BBHI', b[off:off + 8])
            p.add(pre + '.frag.nh', nxt)
            p.add(pre + '.frag.offset', offm & 0xfff8)
            p.add(pre + '.frag.more', offm & 1)
            p.add(pre + '.frag.id', '0x%08x' % ident)
            off += 8
            nh = nxt
            fragment = True
            if offm & 0xfff8:
                p.add(pre + '.fragment', bytes(b[off:end]))
                p.summary = 'IPv6 fragment %s > %s nh %d offset %d, %d bytes' % (
                    src, dst, nh, offm & 0xfff8, end - off)
                return end
        else:
            n = (b[off + 1] + 1) * 8
            p.add(pre + '.ext%d' % nh, bytes(b[off:off + n]))
            nh = b[off]
            off += n
    parse_l4(p, pre, nh, b[off:end], src, dst, outer, verify=complete and not fragment,
             first_fragment=fragment)
    if fragment:
        p.summary += ' (first fragment)'
    return end


def parse_l4(p, pre, proto, s, src, dst, outer, verify, first_fragment):
    """TCP, UDP, ICMP, ICMPv6 or raw. Short quotes (not outer) are parsed as far as they go."""
    strict = outer and not first_fragment
    if pre.startswith('icmp'):
        l4 = pre.rsplit('.', 1)[0] + '.'        # icmp.inner.ip -> icmp.inner.
    else:
        l4 = ''
    if proto == P_TCP:
        parse_tcp(p, l4 + 'tcp', s, src, dst, strict, verify)
    elif proto == P_UDP:
        parse_udp(p, l4 + 'udp', s, src, dst, strict, verify)
    elif proto == P_ICMP and src.version == 4:
        parse_icmp(p, l4 + 'icmp', s, src, dst, strict, verify, 4)
    elif proto == P_ICMP6 and src.version == 6:
        parse_icmp(p, l4 + 'icmp6', s, src, dst, strict, verify, 6)
    else:
        p.add(l4 + 'l4.payload', bytes(s))
        p.summary = 'IPv%d %s > %s proto %d, %d bytes' % (src.version, src, dst, proto, len(s))


def hostport(a, port):
    return ('[%s]:%d' if a.version == 6 else '%s:%d') % (a, port)


def parse_tcp(p, pre, s, src, dst, strict, verify):
    names = (('sport', 0, 2), ('dport', 2, 2), ('seq', 4, 4), ('ack', 8, 4), ('doff', 12, 1),
             ('flags', 13, 1), ('win', 14, 2), ('checksum', 16, 2), ('urg', 18, 2))
    if len(s) < 20 and strict:
        p.bad('truncated TCP header (%d bytes)' % len(s))
    for name, o, n in names:
        if o + n > len(s):
            break
        v = int.from_bytes(s[o:o + n], 'big')
        if name == 'doff':
            v >>= 4
        elif name == 'flags':
            v = '0x%02x %s' % (v, flags_str(v))
        p.add(pre + '.' + name, v)
    if len(s) < 20:
        p.add(pre + '.rest', bytes(s[min(len(s), 20):]))
        p.summary = 'TCP %s > %s, %d bytes of header' % (src, dst, len(s))
        if len(s) >= 4:
            p.summary = 'TCP %s > %s, %d bytes of header' % (
                hostport(src, get16(s, 0)), hostport(dst, get16(s, 2)), len(s))
        return
    doff = s[12] >> 4
    hl = doff * 4
    if strict and (doff < 5 or hl > len(s)):
        p.bad('TCP data offset %d with %d bytes of segment' % (doff, len(s)))
    hl = max(20, min(hl, len(s)))
    p.add(pre + '.options', bytes(s[20:hl]))
    p.add(pre + '.payload', bytes(s[hl:]))
    p.summary = 'TCP %s > %s [%s] seq=%d ack=%d len=%d' % (
        hostport(src, get16(s, 0)), hostport(dst, get16(s, 2)), flags_str(s[13]),
        int.from_bytes(s[4:8], 'big'), int.from_bytes(s[8:12], 'big'), len(s) - hl)
    if verify and p.malformed is None:
        z = bytearray(s)
        put16(z, 16, 0)
        p.csum('tcp', pre + '.checksum', get16(s, 16), l4_csum(src, dst, P_TCP, z))


def parse_udp(p, pre, s, src, dst, strict, verify):
    if len(s) < 8 and strict:
        p.bad('truncated UDP header (%d bytes)' % len(s))
    for name, o in (('sport', 0), ('dport', 2), ('len', 4), ('checksum', 6)):
        if o + 2 > len(s):
            break
        p.add(pre + '.' + name, get16(s, o))
    if len(s) < 8:
        p.add(pre + '.rest', bytes(s[min(len(s), 8):]))
        p.summary = 'UDP %s > %s, %d bytes of header' % (src, dst, len(s))
        return
    ulen = get16(s, 4)
    if strict and (ulen < 8 or ulen > len(s)):
        p.bad('UDP length %d with %d bytes of datagram' % (ulen, len(s)))
    p.add(pre + '.payload', bytes(s[8:]))
    p.summary = 'UDP %s > %s len=%d' % (hostport(src, get16(s, 0)), hostport(dst, get16(s, 2)),
                                        len(s) - 8)
    c = get16(s, 6)
    if verify and p.malformed is None and 8 <= ulen <= len(s):
        if c == 0 and src.version == 4:
            p.summary += ' (no checksum)'
            return
        z = bytearray(s[:ulen])
        put16(z, 6, 0)
        p.csum('udp', pre + '.checksum', c, l4_csum(src, dst, P_UDP, z))


def parse_icmp(p, pre, s, src, dst, strict, verify, ver):
    kind = 'icmp' if ver == 4 else 'icmp6'
    names = ICMP4_NAMES if ver == 4 else ICMP6_NAMES
    if len(s) < 8 and strict:
        p.bad('truncated %s header (%d bytes)' % (kind.upper(), len(s)))
    for name, o in (('type', 0), ('code', 1)):
        if o < len(s):
            p.add(pre + '.' + name, s[o])
    if len(s) >= 4:
        p.add(pre + '.checksum', get16(s, 2))
    if len(s) < 8:
        p.add(pre + '.rest', bytes(s[min(len(s), 4):]))
        p.summary = '%s %s > %s, %d bytes' % (kind.upper(), src, dst, len(s))
        return
    typ, code = s[0], s[1]
    tname = names.get(typ, 'type %d' % typ)
    echo = (typ in ICMP4_QUERIES) if ver == 4 else typ in (128, 129)
    error = (typ in ICMP4_ERRORS) if ver == 4 else typ in (1, 2, 3, 4)
    p.summary = '%s %s > %s %s' % (kind.upper(), src, dst, tname)
    if echo:
        p.add(pre + '.id', '0x%04x' % get16(s, 4))
        p.add(pre + '.seq', get16(s, 6))
        p.add(pre + '.payload', bytes(s[8:]))
        p.summary += ' id=0x%04x seq=%d' % (get16(s, 4), get16(s, 6))
    elif error and not pre.startswith('icmp.inner') and not pre.startswith('icmp6.inner'):
        p.add(pre + '.rest', '0x%08x' % int.from_bytes(s[4:8], 'big'))
        outer_summary = p.summary + ' code %d' % code
        if ver == 4:
            parse_ipv4(p, s[8:], pre + '.inner.ip', outer=False)
        else:
            parse_ipv6(p, s[8:], pre + '.inner.ip6', outer=False)
        p.summary = '%s, about %s' % (outer_summary, p.summary)
    else:
        p.add(pre + '.body', bytes(s[4:]))
    if verify and p.malformed is None:
        z = bytearray(s)
        put16(z, 2, 0)
        p.csum(kind, pre + '.checksum', get16(s, 2),
               l4_csum(src, dst, P_ICMP if ver == 4 else P_ICMP6, z))


# ---------------------------------------------------------------------------
# Scenario 1: the firewall

FW_RULES = """\
# fw.rules: the golden firewall scenario (tests/golden/golden.py gen).
# First match wins. Built-in defaults: no match deny, non-ip allow,
# fragment deny, malformed deny.

# 1. Replies and every later packet of a connection something allowed,
#    and ICMP errors about such a connection (related).
allow established
# 2. Web from the inside.
allow tcp from 10.0.0.0/8 to any port 80,443
# 3. No DNS answers into 192.0.2.0/24, even from the inside (before rule 4).
deny udp from any port 53 to 192.0.2.0/24
# 4. DNS queries from the inside.
allow udp from 10.0.0.0/8 to any port 53
# 5. SSH connection attempts to the inside go to the monitor instead.
to mon tcp from any to 10.0.0.0/8 port 22 flags S/SA
# 6. Pings, from anywhere.
allow icmp icmp-type echo-request
# 7. All of ICMPv6.
allow icmp6
# 8. The discard port, on VLAN 100 only.
allow udp from any to any port 9 vlan 100
# 9. HTTPS from the IPv6 inside.
allow tcp from 2001:db8:1::/48 to any port 443
# 10. Everything else.
default deny
"""


def gen_fw():
    g = Builder()
    out, mon, drop = 'out', 'mon', 'drop'

    # Non-IP: default non-ip allow.
    g.add(arp_frame(1, mac_of(addr('10.0.0.1')), '10.0.0.1', bytes(6), '10.0.0.254', BCAST), out,
          'ARP request: non-IP, built-in default non-ip allow')
    g.add(arp_frame(2, mac_of(addr('10.0.0.254')), '10.0.0.254', mac_of(addr('10.0.0.1')),
                    '10.0.0.1', mac_of(addr('10.0.0.1'))), out,
          'ARP reply: non-IP, built-in default non-ip allow')
    g.add(lldp_frame(), out, 'LLDP: non-IP, built-in default non-ip allow')

    # A: HTTP 10.0.0.1:40000 -> 198.51.100.10:80, open until the end.
    a = TcpConn(g, '10.0.0.1', 40000, '198.51.100.10', 80, 0x1a2b3c4d, 0x5e6f7081)
    g.add(a.syn(), out, 'HTTP A SYN: rule 2 allow tcp from 10/8 to port 80 (creates the connection)')
    g.add(a.synack(), out, 'HTTP A SYN-ACK: rule 1 established')
    g.add(a.ack(), out, 'HTTP A ACK: rule 1 established')
    g.add(a.push(True, HTTP_GET), out, 'HTTP A GET: rule 1 established')
    a_resp = a.push(False, HTTP_OK)
    g.add(a_resp, out, 'HTTP A 200 OK from the server: rule 1 established')
    g.add(a.ack(), out, 'HTTP A ACK: rule 1 established')
    a_get2 = a.push(True, HTTP_GET)
    g.add(a_get2, out, 'HTTP A second GET: rule 1 established')
    g.add(g.icmp_error('203.0.113.1', '10.0.0.1', 11, 0, a_get2, quote=8), out,
          'ICMP time-exceeded from a router about HTTP A (8-byte quote): related, rule 1 established')

    # B: HTTPS, the second port of rule 2.
    b = TcpConn(g, '10.0.0.6', 40100, '198.51.100.11', 443, 0x01020304, 0x0a0b0c0d)
    g.add(b.syn(), out, 'HTTPS B SYN: rule 2 (port 443 of the list 80,443)')
    g.add(b.synack(), out, 'HTTPS B SYN-ACK: rule 1 established')
    g.add(b.ack(), out, 'HTTPS B ACK: rule 1 established')

    # Rule 2 misses, and "denied packets create nothing".
    c = TcpConn(g, '10.0.0.6', 40101, '198.51.100.11', 8443, 0x11111111, 0x22222222)
    g.add(c.syn(), drop, 'TCP from 10/8 to port 8443: not 80/443, no rule matches: default deny')
    c = TcpConn(g, '192.168.1.10', 40102, '198.51.100.10', 80, 0x33333333, 0x44444444)
    g.add(c.syn(), drop, 'TCP to port 80 from 192.168.1.10, not 10/8: default deny')
    c = TcpConn(g, '198.51.100.10', 5000, '10.0.0.1', 8080, 0x55555555, 0x66666666)
    g.add(c.syn(), drop, 'inbound SYN 198.51.100.10:5000 -> 10.0.0.1:8080: default deny')
    g.add(c.synack(), drop, 'the SYN-ACK to that denied SYN: no connection (denied packets '
                            'create none), port 5000 not 80/443: default deny')

    # D: SSH to the inside, rule 5 (to mon).
    d = TcpConn(g, '203.0.113.50', 50022, '10.0.0.1', 22, 0x77777777, 0x88888888)
    g.add(d.syn(), mon, 'SSH SYN to 10.0.0.1:22: rule 5 to mon (flags S/SA), creates the connection')
    g.add(d.synack(), out, 'SSH SYN-ACK from 10.0.0.1:22: rule 1 established (to mon counts as allowed)')
    g.add(d.ack(), out, 'SSH ACK from the client: rule 1 established (before rule 5)')
    d_data = d.push(False, b'SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n')
    g.add(d_data, out, 'SSH server banner: rule 1 established')
    c = TcpConn(g, '203.0.113.51', 50023, '10.0.0.1', 22, 0x99999999, 0xaaaaaaaa)
    g.add(c.ack(), drop, 'bare ACK to 10.0.0.1:22, no connection: flags S/SA needs SYN: default deny')
    c = TcpConn(g, '203.0.113.52', 50024, '10.0.0.2', 22, 0xbbbbbbbb, 0xcccccccc)
    g.add(c.seg(True, SYN | ACK, mss=True), drop,
          'SYN-ACK to 10.0.0.2:22: S/SA needs ACK clear: default deny')
    c = TcpConn(g, '203.0.113.53', 50025, '172.16.0.1', 22, 0xdddddddd, 0xeeeeeeee)
    g.add(c.syn(), drop, 'SYN to 172.16.0.1:22, not 10/8: default deny')

    # DNS: rule 4, replies established, ICMP errors related or not.
    q1 = g.udp('10.0.0.2', '198.51.100.53', 5353, 53, dns_query(0x1001, 'www.example.com'))
    g.add(q1, out, 'DNS query 10.0.0.2:5353 -> 198.51.100.53:53: rule 4 (creates the connection)')
    g.add(g.udp('198.51.100.53', '10.0.0.2', 53, 5353,
                dns_answer(0x1001, 'www.example.com', '198.51.100.10')), out,
          'DNS answer: rule 1 established (rule 4 would not match: not from 10/8)')
    q2 = g.udp('10.0.0.2', '198.51.100.53', 5353, 53, dns_query(0x1002, 'mail.example.com'))
    g.add(q2, out, 'second DNS query on the same 5-tuple: rule 1 established')
    g.add(g.icmp_error('198.51.100.53', '10.0.0.2', 3, 3, q2), out,
          'ICMP port-unreachable about the DNS query (whole datagram quoted): related, rule 1')
    unknown = g.udp('10.0.0.9', '198.51.100.99', 7777, 7777, b'never sent through the firewall')
    g.add(g.icmp_error('198.51.100.99', '10.0.0.9', 3, 3, unknown), drop,
          'ICMP port-unreachable about 10.0.0.9:7777 -> 198.51.100.99:7777, an unknown flow: '
          'not related, not echo-request: default deny')

    # Rule 3 before rule 4; denied packets create nothing.
    g.add(g.udp('198.51.100.53', '192.0.2.7', 53, 4444, dns_answer(0x2001, 'x.example', '192.0.2.1')),
          drop, 'UDP from port 53 to 192.0.2.7: rule 3 deny')
    g.add(g.udp('10.0.0.8', '192.0.2.7', 53, 53, dns_query(0x2002, 'y.example')), drop,
          'UDP 10.0.0.8:53 -> 192.0.2.7:53: rule 3 deny (first match; rule 4 would allow it)')
    g.add(g.udp('192.0.2.7', '198.51.100.53', 4444, 53, dns_query(0x2003, 'z.example')), drop,
          'UDP 192.0.2.7:4444 -> 198.51.100.53:53, the reverse of a denied packet: no '
          'connection, not from 10/8: default deny')
    g.add(g.udp('10.0.0.2', '198.51.100.53', 5354, 54, b'not dns'), drop,
          'UDP from 10/8 to port 54: default deny')

    # Ping: rule 6, replies by identifier.
    g.add(g.echo('10.0.0.3', '198.51.100.1', 0x0b0c, 1), out,
          'ICMP echo-request 10.0.0.3 -> 198.51.100.1 id 0x0b0c: rule 6 (creates the connection)')
    g.add(g.echo('198.51.100.1', '10.0.0.3', 0x0b0c, 1, reply=True), out,
          'ICMP echo-reply id 0x0b0c: rule 1 established (identifier)')
    g.add(g.echo('10.0.0.3', '198.51.100.1', 0x0b0c, 2), out, 'echo-request seq 2: rule 1 established')
    g.add(g.echo('198.51.100.1', '10.0.0.3', 0x0b0c, 2, reply=True), out,
          'echo-reply seq 2: rule 1 established')
    g.add(g.echo('198.51.100.2', '10.0.0.3', 0x0d0e, 1, reply=True), drop,
          'unsolicited echo-reply id 0x0d0e: not established, not echo-request: default deny')
    g.add(g.echo('198.51.100.3', '10.0.0.3', 0x0b0c, 3, reply=True), drop,
          'echo-reply id 0x0b0c but from 198.51.100.3, not the pinged host: default deny')
    g.add(g.echo('198.51.100.4', '10.0.0.3', 0x4444, 1), out,
          'inbound echo-request: rule 6 (from anywhere)')
    g.add(g.ip4(addr('10.0.0.3'), addr('198.51.100.1'), P_ICMP,
                icmp_seg(13, 0, struct.pack('!HHIII', 0x0b0d, 1, 3600000, 0, 0))), drop,
          'ICMP timestamp request: not echo-request: default deny')

    # ICMPv6: rule 7.
    g.add(g.echo('2001:db8:1::5', '2001:db8:2::1', 0x0c0d, 1), out,
          'ICMPv6 echo-request: rule 7 allow icmp6')
    g.add(g.echo('2001:db8:2::1', '2001:db8:1::5', 0x0c0d, 1, reply=True), out,
          'ICMPv6 echo-reply: rule 1 established (rule 7 would also allow)')
    ns_src, ns_dst = addr('2001:db8:1::5'), addr('ff02::1:ff00:9')
    ns = struct.pack('!I16s', 0, addr('2001:db8:1::9').packed) + b'\x01\x01' + mac_of(ns_src)
    g.add(g.ip6(ns_src, ns_dst, P_ICMP6, icmp6_seg(ns_src, ns_dst, 135, 0, ns), hlim=255), out,
          'ICMPv6 neighbor solicitation: rule 7 allow icmp6')

    # IPv6 TCP: rule 9.
    e = TcpConn(g, '2001:db8:1::5', 50000, '2001:db8:2::9', 443, 0x0badcafe, 0x0d15ea5e)
    g.add(e.syn(), out, 'IPv6 HTTPS SYN from 2001:db8:1::/48: rule 9 (creates the connection)')
    g.add(e.synack(), out, 'IPv6 HTTPS SYN-ACK: rule 1 established')
    g.add(e.ack(), out, 'IPv6 HTTPS ACK: rule 1 established')
    g.add(e.push(True, b'\x16\x03\x01\x00\x40' + bytes(range(0x40))), out,
          'IPv6 HTTPS data (a TLS record): rule 1 established')
    g.add(e.ack(False), out, 'IPv6 HTTPS server ACK: rule 1 established')
    c = TcpConn(g, '2001:db8:9::1', 50001, '2001:db8:2::9', 443, 0x12121212, 0x34343434)
    g.add(c.syn(), drop, 'IPv6 SYN to port 443 from 2001:db8:9::1, outside the /48: default deny')
    c = TcpConn(g, '2001:db8:1::5', 50002, '2001:db8:2::9', 80, 0x56565656, 0x78787878)
    g.add(c.syn(), drop, 'IPv6 SYN to port 80: rule 2 is IPv4 only, rule 9 is port 443: default deny')

    # Rule 8: VLAN 100 only.
    wol = b'\xff' * 6 + mac_of(addr('192.168.100.20')) * 16   # wake-on-LAN magic packet
    g.add(g.udp('192.168.100.5', '192.168.100.255', 40009, 9, wol, vlan=100, dmac=BCAST), out,
          'UDP to port 9 on VLAN 100: rule 8')
    g.add(g.udp('192.168.200.5', '192.168.200.255', 40010, 9, wol, vlan=200, dmac=BCAST), drop,
          'UDP to port 9 on VLAN 200: rule 8 needs vlan 100: default deny')
    g.add(g.udp('192.168.1.5', '192.168.1.255', 40011, 9, wol, dmac=BCAST), drop,
          'UDP to port 9 untagged: rule 8 needs vlan 100: default deny')
    g.add(g.udp('192.168.100.6', '192.168.100.255', 40012, 10, wol, vlan=100, dmac=BCAST), drop,
          'UDP to port 10 on VLAN 100: not port 9: default deny')

    # Fragments: the first is classified, the others hit default fragment deny.
    big = dns_query(0x3001, 'big.example') + bytes((k * 7) & 0xff for k in range(1600))
    src, dst = addr('10.0.0.4'), addr('198.51.100.53')
    dgram = udp_seg(src, dst, 5000, 53, big)
    ident = g.next_id(src)
    first, rest = dgram[:1480], dgram[1480:]
    ip = ipv4_header(src, dst, P_UDP, len(first), ident, df=False, mf=True)
    g.add(eth(mac_of(dst), mac_of(src), ET_IPV4, ip + first), out,
          'first IPv4 fragment (offset 0, MF) of UDP 10.0.0.4:5000 -> :53: rule 4')
    ip = ipv4_header(src, dst, P_UDP, len(rest), ident, df=False, frag=1480)
    g.add(eth(mac_of(dst), mac_of(src), ET_IPV4, ip + rest), drop,
          'second IPv4 fragment (offset 1480): built-in default fragment deny')
    src6, dst6 = addr('2001:db8:1::5'), addr('2001:db8:2::1')
    msg = icmp6_seg(src6, dst6, 128, 0, struct.pack('!HH', 0x0c0e, 1) + ping_data(1600))
    first, rest = msg[:1448], msg[1448:]
    g.add(g.ip6(src6, dst6, P_ICMP6, first, ext=struct.pack('!BBHI', P_ICMP6, 0, 1, 0x00c0ffee)),
          out, 'first IPv6 fragment of a large ICMPv6 echo-request: rule 7')
    g.add(g.ip6(src6, dst6, P_ICMP6, rest,
                ext=struct.pack('!BBHI', P_ICMP6, 0, 1448, 0x00c0ffee)),
          drop, 'second IPv6 fragment (offset 1448): built-in default fragment deny')

    # Malformed: each otherwise looks like traffic rule 2 or 4 would allow.
    src, dst = addr('10.0.0.1'), addr('198.51.100.10')
    full = tcp_seg(src, dst, 40200, 80, 0x10101010, 0, SYN, 64240)
    g.add(g.ip4(src, dst, P_TCP, full[:10]), drop,
          'truncated TCP header (10 bytes) to port 80: built-in default malformed deny')
    syn = g.ip4(src, dst, P_TCP, tcp_seg(src, dst, 40201, 80, 0x20202020, 0, SYN, 64240))
    g.add(mutate(syn, [(0, b'\x44')], fix_ip=True), drop,
          'IPv4 IHL 4: built-in default malformed deny')
    syn = g.ip4(src, dst, P_TCP, tcp_seg(src, dst, 40202, 80, 0x30303030, 0, SYN, 64240))
    g.add(mutate(syn, [(2, struct.pack('!H', 1000))], fix_ip=True), drop,
          'IPv4 total length 1000 in a 60-byte frame: built-in default malformed deny')
    seg = bytearray(tcp_seg(src, dst, 40203, 80, 0x40404040, 0, SYN, 64240))
    seg[12] = 4 << 4
    put16(seg, 16, 0)
    put16(seg, 16, l4_csum(src, dst, P_TCP, seg))
    g.add(g.ip4(src, dst, P_TCP, bytes(seg)), drop,
          'TCP data offset 4: built-in default malformed deny')
    seg = bytearray(tcp_seg(src, dst, 40204, 80, 0x50505050, 0, SYN, 64240))
    seg[12] = 15 << 4
    put16(seg, 16, 0)
    put16(seg, 16, l4_csum(src, dst, P_TCP, seg))
    g.add(g.ip4(src, dst, P_TCP, bytes(seg)), drop,
          'TCP data offset 15 (60 bytes) in a 20-byte segment: built-in default malformed deny')
    src, dst = addr('10.0.0.2'), addr('198.51.100.53')
    g.add(g.ip4(src, dst, P_UDP, struct.pack('!HH', 5400, 53), df=False), drop,
          'truncated UDP header (4 bytes) to port 53: built-in default malformed deny')
    ping6 = g.echo('2001:db8:1::5', '2001:db8:2::1', 0x0c0f, 1)
    g.add(mutate(ping6, [(4, struct.pack('!H', 1000))]), drop,
          'IPv6 payload length 1000 in a 118-byte frame: built-in default malformed deny')

    # IPv4 options are fine.
    f = TcpConn(g, '10.0.0.1', 40300, '198.51.100.10', 80, 0x60606060, 0x70707070)
    g.add(f.syn(ip_options=ROUTER_ALERT), out,
          'SYN with an IPv4 option (router alert, IHL 6) from 10/8 to port 80: rule 2')
    g.add(f.synack(), out, 'its SYN-ACK: rule 1 established')

    # Nothing for GRE.
    gre = struct.pack('!HH', 0, ET_IPV4) + ipv4_header(addr('10.1.0.1'), addr('10.2.0.1'), P_ICMP, 8, 1)
    gre += icmp_seg(8, 0, struct.pack('!HH', 1, 1))
    g.add(g.ip4(addr('10.0.0.1'), addr('198.51.100.30'), P_GRE, gre), drop,
          'GRE from 10.0.0.1: no rule for protocol 47: default deny')

    # Teardown of A and D, and a last established packet.
    g.add(a.fin(True), out, 'HTTP A FIN from the client: rule 1 established')
    g.add(a.fin(False), out, 'HTTP A FIN from the server: rule 1 established')
    g.add(a.ack(), out, 'HTTP A last ACK: rule 1 established')
    g.add(d.push(True, b'SSH-2.0-PuTTY_Release_0.78\r\n'), out,
          'SSH client banner: rule 1 established')
    return g


# ---------------------------------------------------------------------------
# Scenario 2: the NAT

NAT_SPLIT_RULES = """\
# nat-split.rules: mpdp-fw as the splitter in front of mpdp-nat
# (tests/golden/golden.py gen). Output "lan" feeds the NAT's inside input,
# "wan" its outside input.

# Packets from inside hosts enter the NAT on the inside.
to lan from 10.0.0.0/8
to lan from 172.16.0.0/12
to lan from fd00::/8
# ARP and other non-IP frames too (the NAT passes them to the other side).
default non-ip to lan
# Fragments and malformed packets must reach the NAT, which drops them.
default fragment to wan
default malformed to wan
# Everything else comes from the outside.
default to wan
"""

NAT_ARGS = '--snat 10.0.0.0/8=192.0.2.1-192.0.2.4:1024-65535 --dnat 192.0.2.1:8080=10.0.0.5:80/tcp\n'

NAT_INSIDE_NETS = [ipaddress.ip_network(n) for n in ('10.0.0.0/8', '172.16.0.0/12', 'fd00::/8')]
NAT_SNAT_NET = ipaddress.ip_network('10.0.0.0/8')
NAT_POOL = [addr('192.0.2.%d' % i) for i in range(1, 5)]
NAT_PORT_LO, NAT_PORT_HI = 1024, 65535
NAT_DNAT = ((P_TCP, addr('10.0.0.5'), 80), (P_TCP, addr('192.0.2.1'), 8080))
PROTO_NAMES = {P_TCP: 'tcp', P_UDP: 'udp', P_ICMP: 'icmp'}


def split_side(frame):
    """Which output of nat-split.rules a frame leaves by: 'inside' (lan) or 'outside' (wan)."""
    off, et = l3_offset(frame)
    p = parse(frame)
    if et not in (ET_IPV4, ET_IPV6):
        return 'inside', 'non-IP: default non-ip to lan'
    if p.malformed:
        return 'outside', 'malformed: default malformed to wan'
    if p_get(p, 'ip.fragment') is not None or p_get(p, 'ip6.fragment') is not None:
        return 'outside', 'non-first fragment: default fragment to wan'
    src = addr(p_get(p, 'ip.src') or p_get(p, 'ip6.src'))
    for net in NAT_INSIDE_NETS:
        if src.version == net.version and src in net:
            return 'inside', 'to lan from %s' % net
    return 'outside', 'default to wan'


class NatModel:
    """The translation rules of the brief, packet by packet; makes the expected frames.

    Sessions: (proto, inside addr, inside port/echo id) <-> (proto, outside addr,
    outside port/id), endpoint-independent. Every checksum is recomputed in full
    and, where the NAT would update it incrementally, the RFC 1624 result is
    computed too and must agree (it is what the expectation holds for the
    embedded L4 checksum of an ICMP error, whose quote may be incomplete).
    """

    def __init__(self):
        self.out_of = {}        # (proto, inside addr, port) -> (outside addr, port)
        self.in_of = {}         # (proto, outside addr, port) -> (inside addr, port)
        (ip, ia, ipt), (op, oa, opt) = NAT_DNAT
        self.out_of[(ip, ia, ipt)] = (oa, opt)
        self.in_of[(op, oa, opt)] = (ia, ipt)

    def map_out(self, proto, a, port):
        """The outside endpoint of an inside one, made if new; (endpoint, note)."""
        key = (proto, a, port)
        if key in self.out_of:
            oa, op = self.out_of[key]
            what = 'id 0x%04x' if proto == P_ICMP else 'port %d'
            return (oa, op), 'mapping %s %s' % (oa, what % op)
        oa = NAT_POOL[int(a) % len(NAT_POOL)]
        op = port if NAT_PORT_LO <= port <= NAT_PORT_HI else NAT_PORT_LO
        for _ in range(NAT_PORT_HI - NAT_PORT_LO + 1):
            if (proto, oa, op) not in self.in_of:
                break
            op = op + 1 if op < NAT_PORT_HI else NAT_PORT_LO
        else:
            raise RuntimeError('pool exhausted')
        self.out_of[key] = (oa, op)
        self.in_of[(proto, oa, op)] = (a, port)
        what = 'id 0x%04x' if proto == P_ICMP else 'port %d'
        note = 'new mapping %s %s (pool[int(%s) %% 4 = %d])' % (oa, what % op, a, int(a) % 4)
        if op != port:
            note += ', %s taken' % (what % port)
        return (oa, op), note

    def process(self, frame, side):
        """(output 'inside'/'outside' or None for drop, expected frame, why)."""
        other = 'outside' if side == 'inside' else 'inside'
        off, et = l3_offset(frame)
        if et == ET_IPV6:
            return other, frame, 'IPv6: passed untranslated'
        if et != ET_IPV4:
            return other, frame, 'non-IP: passed untranslated'
        p = parse(frame)
        if p.malformed:
            return None, None, 'malformed (%s): dropped' % p.malformed
        b = bytearray(frame)
        ip = off
        hl = (b[ip] & 15) * 4
        tot = get16(b, ip + 2)
        if get16(b, ip + 6) & 0x3fff:
            return None, None, 'IPv4 fragment: dropped'
        proto = b[ip + 9]
        src, dst = addr(bytes(b[ip + 12:ip + 16])), addr(bytes(b[ip + 16:ip + 20]))
        if side == 'inside' and src not in NAT_SNAT_NET:
            return other, frame, 'inside source %s not in %s: passed untranslated' % (src, NAT_SNAT_NET)
        if proto not in (P_TCP, P_UDP, P_ICMP):
            return None, None, 'protocol %d is not translated: dropped' % proto
        l4 = ip + hl
        if proto == P_ICMP and b[l4] in ICMP4_ERRORS:
            return self.icmp_error(b, ip, hl, tot, side)
        if proto == P_ICMP:
            typ = b[l4]
            if side == 'inside' and typ == 8:
                (oa, oid), note = self.map_out(P_ICMP, src, get16(b, l4 + 4))
                self.rewrite(b, ip, src=oa, sport=oid)
                return 'outside', bytes(b), 'echo-request %s id 0x%04x: %s' % (
                    src, get16(frame, l4 + 4), note)
            if side == 'outside' and typ == 0:
                m = self.in_of.get((P_ICMP, dst, get16(b, l4 + 4)))
                if m is None:
                    return None, None, 'echo-reply to %s id 0x%04x: no mapping: dropped' % (
                        dst, get16(b, l4 + 4))
                self.rewrite(b, ip, dst=m[0], dport=m[1])
                return 'inside', bytes(b), 'echo-reply: to %s id 0x%04x' % m
            return None, None, 'ICMP type %d from the %s: dropped' % (typ, side)
        sport, dport = get16(b, l4), get16(b, l4 + 2)
        pn = PROTO_NAMES[proto]
        if side == 'inside':
            (oa, op), note = self.map_out(proto, src, sport)
            hair = self.in_of.get((proto, dst, dport))
            self.rewrite(b, ip, src=oa, sport=op)
            if hair is None:
                return 'outside', bytes(b), '%s %s:%d: %s' % (pn, src, sport, note)
            self.rewrite(b, ip, dst=hair[0], dport=hair[1])
            return 'inside', bytes(b), ('hairpin: %s %s:%d: %s; destination %s:%d is the mapping '
                                        'of %s:%d' % (pn, src, sport, note, dst, dport, *hair))
        m = self.in_of.get((proto, dst, dport))
        if m is None:
            return None, None, 'inbound %s to %s:%d: no mapping: dropped' % (pn, dst, dport)
        self.rewrite(b, ip, dst=m[0], dport=m[1])
        return 'inside', bytes(b), 'inbound %s to %s:%d: mapping of %s:%d' % (pn, dst, dport, *m)

    def icmp_error(self, b, ip, hl, tot, side):
        l4 = ip + hl
        inner = l4 + 8
        end = ip + tot
        if end - inner < 20:
            return None, None, 'ICMP error with a short quote: dropped'
        ihl = (b[inner] & 15) * 4
        iproto = b[inner + 9]
        isrc, idst = addr(bytes(b[inner + 12:inner + 16])), addr(bytes(b[inner + 16:inner + 20]))
        il4 = inner + ihl
        if end - il4 < 8 or iproto not in (P_TCP, P_UDP, P_ICMP):
            return None, None, 'ICMP error about protocol %d: dropped' % iproto
        if iproto == P_ICMP:
            isport = idport = get16(b, il4 + 4)
        else:
            isport, idport = get16(b, il4), get16(b, il4 + 2)
        pn = PROTO_NAMES[iproto]
        if side == 'outside':
            # About an outbound packet as it left: its source is the mapping.
            m = self.in_of.get((iproto, isrc, isport))
            if m is None:
                return None, None, 'ICMP error about %s %s:%d: no mapping: dropped' % (pn, isrc, isport)
            self.rewrite(b, ip, dst=m[0])
            self.rewrite_inner(b, inner, end, src=m[0], sport=m[1])
            why = 'inbound ICMP error about %s %s:%d: to %s, embedded source %s:%d' % (
                pn, isrc, isport, m[0], *m)
            out = 'inside'
        else:
            # From an inside host about an inbound packet: its destination is the host.
            m = self.out_of.get((iproto, idst, idport))
            if m is None:
                return None, None, 'ICMP error about %s to %s:%d: no mapping: dropped' % (pn, idst, idport)
            self.rewrite(b, ip, src=m[0])
            self.rewrite_inner(b, inner, end, dst=m[0], dport=m[1])
            why = 'outbound ICMP error about %s to %s:%d: from %s, embedded destination %s:%d' % (
                pn, idst, idport, m[0], *m)
            out = 'outside'
        # The ICMP checksum covers the whole message: recompute it.
        put16(b, l4 + 2, 0)
        put16(b, l4 + 2, inet_csum(b[l4:end]))
        return out, bytes(b), why

    def rewrite(self, b, ip, src=None, dst=None, sport=None, dport=None):
        """Outer packet: addresses and ports (echo id for ICMP), checksums recomputed, and
        the incremental update of the L4 checksum checked against the recomputation."""
        hl = (b[ip] & 15) * 4
        tot = get16(b, ip + 2)
        proto = b[ip + 9]
        l4 = ip + hl
        old = bytes(b)
        if src is not None:
            b[ip + 12:ip + 16] = src.packed
        if dst is not None:
            b[ip + 16:ip + 20] = dst.packed
        if proto == P_ICMP:
            if sport is not None:
                put16(b, l4 + 4, sport)
            if dport is not None:
                put16(b, l4 + 4, dport)
            cpos = l4 + 2
            words = [l4 + 4]
        else:
            if sport is not None:
                put16(b, l4, sport)
            if dport is not None:
                put16(b, l4 + 2, dport)
            cpos = l4 + 16 if proto == P_TCP else l4 + 6
            words = [ip + 12, ip + 14, ip + 16, ip + 18, l4, l4 + 2]
        put16(b, ip + 10, 0)
        put16(b, ip + 10, inet_csum(b[ip:ip + hl]))
        hc = get16(old, cpos)
        if proto == P_UDP and hc == 0:
            return                      # no checksum: stays 0
        inc = csum_adjust(hc, b''.join(old[w:w + 2] for w in words),
                          b''.join(bytes(b[w:w + 2]) for w in words))
        if proto == P_UDP and inc == 0:
            inc = 0xffff
        put16(b, cpos, 0)
        s = bytes(b[l4:ip + tot])
        full = l4_csum(addr(bytes(b[ip + 12:ip + 16])), addr(bytes(b[ip + 16:ip + 20])), proto, s)
        if inc != full:
            raise AssertionError('golden: incremental 0x%04x != full 0x%04x' % (inc, full))
        put16(b, cpos, full)

    def rewrite_inner(self, b, inner, end, src=None, dst=None, sport=None, dport=None):
        """The packet quoted in an ICMP error: its IPv4 header checksum recomputed, its L4
        checksum (when the quote holds it) updated incrementally, RFC 1624."""
        ihl = (b[inner] & 15) * 4
        itot = get16(b, inner + 2)
        iproto = b[inner + 9]
        il4 = inner + ihl
        old = bytes(b)
        if src is not None:
            b[inner + 12:inner + 16] = src.packed
        if dst is not None:
            b[inner + 16:inner + 20] = dst.packed
        if iproto == P_ICMP:
            for v in (sport, dport):
                if v is not None:
                    put16(b, il4 + 4, v)
            cpos, words = il4 + 2, [il4 + 4]
        else:
            if sport is not None:
                put16(b, il4, sport)
            if dport is not None:
                put16(b, il4 + 2, dport)
            cpos = il4 + 16 if iproto == P_TCP else il4 + 6
            words = [inner + 12, inner + 14, inner + 16, inner + 18, il4, il4 + 2]
        put16(b, inner + 10, 0)
        put16(b, inner + 10, inet_csum(b[inner:inner + ihl]))
        inc = csum_adjust(get16(old, inner + 10), old[inner + 12:inner + 20],
                          bytes(b[inner + 12:inner + 20]))
        if not same_value('checksum', inc, get16(b, inner + 10)):
            raise AssertionError('golden: inner IPv4 checksum, incremental != full')
        if cpos + 2 > end:
            return                      # the quote stops before the L4 checksum
        hc = get16(old, cpos)
        if iproto == P_UDP and hc == 0:
            return
        inc = csum_adjust(hc, b''.join(old[w:w + 2] for w in words),
                          b''.join(bytes(b[w:w + 2]) for w in words))
        if iproto == P_UDP and inc == 0:
            inc = 0xffff
        put16(b, cpos, inc)
        if inner + itot <= end:         # the whole packet is quoted: recomputation must agree
            s = bytearray(b[il4:inner + itot])
            put16(s, cpos - il4, 0)
            full = l4_csum(addr(bytes(b[inner + 12:inner + 16])),
                           addr(bytes(b[inner + 16:inner + 20])), iproto, s)
            if full != inc:
                raise AssertionError('golden: inner L4 incremental 0x%04x != full 0x%04x' % (inc, full))


def gen_nat():
    g = Builder()

    def add(frame, what):
        g.add(frame, None, what)

    # Non-IP on the inside.
    add(arp_frame(1, mac_of(addr('10.0.0.1')), '10.0.0.1', bytes(6), '10.0.0.254', BCAST),
        'ARP request from 10.0.0.1')

    # A: HTTP 10.0.0.1:40000 -> 198.51.100.10:80, as the outside sees it: 192.0.2.2:40000.
    a = TcpConn(g, '10.0.0.1', 40000, '198.51.100.10', 80, 0x1a2b3c4d, 0x5e6f7081)
    out_a = OutsideView('192.0.2.2', 40000)
    add(a.syn(), 'A: SYN 10.0.0.1:40000 -> 198.51.100.10:80')
    add(out_a.server(a.synack), 'A: SYN-ACK from 198.51.100.10:80 to the mapping')
    add(a.ack(), 'A: ACK')
    add(a.push(True, HTTP_GET), 'A: GET')
    add(out_a.server(lambda: a.push(False, HTTP_OK)), 'A: 200 OK')
    add(a.ack(), 'A: ACK')
    post = a.push(True, b'POST /upload HTTP/1.1\r\nHost: www.example.com\r\n'
                        b'Content-Length: 1300\r\n\r\n' + bytes((k * 13) & 0xff for k in range(1300)))
    add(post, 'A: a 1300-byte POST, DF')
    post_out = out_a.translate(post)
    add(g.icmp_error('203.0.113.1', '192.0.2.2', 3, 4, post_out, quote=64, rest=1400),
        'A: inbound ICMP frag-needed (MTU 1400) from a router about the POST, 64 bytes of TCP '
        'quoted (checksum present, quote incomplete)')

    # EIM: the same inside endpoint to a second destination keeps its mapping.
    a2 = TcpConn(g, '10.0.0.1', 40000, '198.51.100.11', 443, 0x2b3c4d5e, 0x6f708192)
    out_a2 = OutsideView('192.0.2.2', 40000)
    add(a2.syn(), 'A2: SYN 10.0.0.1:40000 -> 198.51.100.11:443 (same inside endpoint)')
    add(out_a2.server(a2.synack), 'A2: SYN-ACK from 198.51.100.11:443')
    # Endpoint-independent filtering: a third host reaches the mapping.
    x = TcpConn(g, '198.51.100.99', 7000, '192.0.2.2', 40000, 0x3c4d5e6f, 0)
    add(x.syn(), 'inbound SYN from 198.51.100.99:7000 to the mapping 192.0.2.2:40000')

    # Collision: 10.0.0.5 also maps to 192.0.2.2, port 40000 is taken.
    c = TcpConn(g, '10.0.0.5', 40000, '198.51.100.10', 80, 0x4d5e6f70, 0x8192a3b4)
    out_c = OutsideView('192.0.2.2', 40001)
    add(c.syn(), 'C: SYN 10.0.0.5:40000 -> 198.51.100.10:80 (collides on 192.0.2.2:40000)')
    add(out_c.server(c.synack), 'C: SYN-ACK to 192.0.2.2:40001')
    c_ack = c.ack()
    add(c_ack, 'C: ACK')
    add(g.icmp_error('203.0.113.1', '192.0.2.2', 11, 0, out_c.translate(c_ack), quote=8),
        'C: inbound ICMP time-exceeded about C, 8 bytes of TCP quoted (no checksum in the quote)')

    # 192.0.2.1:8080 is reserved for TCP by the DNAT entry, not for UDP.
    r = TcpConn(g, '10.0.0.4', 8080, '198.51.100.10', 80, 0x5e6f7081, 0)
    add(r.syn(), 'SYN from 10.0.0.4:8080 (pool 192.0.2.1, where tcp 8080 is the DNAT)')
    add(g.udp('10.0.0.4', '198.51.100.20', 8080, 53, dns_query(0x4001, 'r.example')),
        'UDP from 10.0.0.4:8080 (udp 8080 on 192.0.2.1 is free)')

    # DNS 10.0.0.2:5353 (-> 192.0.2.3:5353).
    add(g.udp('10.0.0.2', '198.51.100.20', 5353, 53, dns_query(0x5001, 'www.example.com')),
        'DNS query 10.0.0.2:5353 -> 198.51.100.20:53')
    ans = dns_answer(0x5001, 'www.example.com', '198.51.100.10')
    add(g.udp('198.51.100.20', '192.0.2.3', 53, 5353, ans), 'DNS answer to the mapping')
    add(g.udp('198.51.100.77', '192.0.2.3', 4000, 5353,
              dns_answer(0x5009, 'printer.example', '198.51.100.77')),
        'UDP from a third host 198.51.100.77:4000 to the mapping 192.0.2.3:5353')
    q2 = g.udp('10.0.0.2', '198.51.100.1', 5353, 53, dns_query(0x5002, 'mail.example.com'))
    add(q2, 'DNS query to 198.51.100.1, which runs no DNS server (same mapping)')
    q2_out = translate_src(q2, '192.0.2.3', 5353)
    add(g.icmp_error('198.51.100.1', '192.0.2.3', 3, 3, q2_out),
        'inbound ICMP port-unreachable from 198.51.100.1 about that query (whole datagram quoted)')
    late = g.udp('198.51.100.20', '192.0.2.3', 53, 5353, ans)
    add(late, 'a late duplicate DNS answer to the mapping')
    late_in = translate_dst(late, '10.0.0.2', 5353)
    add(g.icmp_error('10.0.0.2', '198.51.100.20', 3, 3, late_in),
        'outbound ICMP port-unreachable from 10.0.0.2 about the late answer (as it received it)')

    # Ping: identifiers are mapped like ports.
    add(g.echo('10.0.0.3', '198.51.100.1', 0x1234, 1), 'echo-request 10.0.0.3 id 0x1234')
    add(g.echo('198.51.100.1', '192.0.2.4', 0x1234, 1, reply=True), 'echo-reply to the mapping')
    add(g.echo('10.0.0.7', '198.51.100.1', 0x1234, 1),
        'echo-request 10.0.0.7 id 0x1234 (pool 192.0.2.4 too: the id is taken)')
    add(g.echo('198.51.100.1', '192.0.2.4', 0x1235, 1, reply=True), 'echo-reply to id 0x1235')

    # DNAT: 192.0.2.1:8080 is 10.0.0.5:80.
    d = TcpConn(g, '203.0.113.9', 33333, '192.0.2.1', 8080, 0x6f708192, 0x708192a3)
    d_in = TcpConn(g, '203.0.113.9', 33333, '10.0.0.5', 80, 0x6f708192, 0x708192a3)
    add(d.syn(), 'DNAT: SYN 203.0.113.9:33333 -> 192.0.2.1:8080')
    d_in.c_nxt = d.c_nxt
    add(d_in.synack(), 'DNAT: SYN-ACK from 10.0.0.5:80')
    d.s_nxt = d_in.s_nxt
    add(d.ack(), 'DNAT: ACK')
    add(d.push(True, HTTP_GET), 'DNAT: GET')
    d_in.c_nxt = d.c_nxt
    add(d_in.push(False, HTTP_OK), 'DNAT: 200 OK from 10.0.0.5:80')

    # Hairpin: 10.0.0.7 reaches the DNAT address from the inside.
    h = TcpConn(g, '10.0.0.7', 5555, '192.0.2.1', 8080, 0x8192a3b4, 0x92a3b4c5)
    h_srv = TcpConn(g, '192.0.2.4', 5555, '10.0.0.5', 80, 0x8192a3b4, 0x92a3b4c5)
    add(h.syn(), 'hairpin: SYN 10.0.0.7:5555 -> 192.0.2.1:8080')
    h_srv.c_nxt = h.c_nxt
    add(h_srv.synack(), 'hairpin: SYN-ACK 10.0.0.5:80 -> 192.0.2.4:5555')
    h.s_nxt = h_srv.s_nxt
    add(h.ack(), 'hairpin: ACK')

    # No mapping, no translation.
    add(g.udp('198.51.100.20', '192.0.2.3', 53, 9999, ans), 'inbound UDP to 192.0.2.3:9999')
    add(TcpConn(g, '198.51.100.66', 5000, '192.0.2.1', 22, 0x11223344, 0).syn(),
        'inbound SYN to 192.0.2.1:22')
    ghost = g.udp('192.0.2.2', '198.51.100.1', 7777, 7777, b'never sent')
    add(g.icmp_error('198.51.100.1', '192.0.2.2', 3, 3, ghost),
        'inbound ICMP port-unreachable about UDP 192.0.2.2:7777, which nothing maps')

    # Passed untranslated.
    add(g.udp('fd00::1', '2001:db8::1', 40000, 53, dns_query(0x6001, 'v6.example')),
        'IPv6 UDP from fd00::1')
    add(g.udp('2001:db8::1', 'fd00::1', 53, 40000, dns_answer(0x6001, 'v6.example', '192.0.2.1')),
        'IPv6 UDP answer to fd00::1')
    add(g.udp('172.16.0.9', '198.51.100.50', 6000, 6000, b'not in 10/8'),
        'UDP from 172.16.0.9 (inside, not in the SNAT range)')

    # Checksum 0, IP options.
    add(g.udp('10.0.0.6', '198.51.100.40', 6000, 7000, b'no checksum here', no_csum=True),
        'UDP 10.0.0.6:6000 with checksum 0')
    o = TcpConn(g, '10.0.0.8', 41000, '198.51.100.10', 80, 0x92a3b4c5, 0)
    add(o.syn(ip_options=ROUTER_ALERT), 'SYN 10.0.0.8:41000 with an IPv4 option (router alert)')

    # Dropped.
    gre = struct.pack('!HH', 0, ET_IPV4) + ipv4_header(addr('10.1.0.1'), addr('10.2.0.1'), P_ICMP, 8, 1)
    gre += icmp_seg(8, 0, struct.pack('!HH', 1, 1))
    add(g.ip4(addr('10.0.0.1'), addr('198.51.100.30'), P_GRE, gre), 'GRE from 10.0.0.1')
    big = dns_answer(0x5003, 'big.example', '198.51.100.10') + bytes((k * 5) & 0xff for k in range(1600))
    src, dst = addr('198.51.100.20'), addr('192.0.2.3')
    dgram = udp_seg(src, dst, 53, 5353, big)
    ident = g.next_id(src)
    add(eth(mac_of(dst), mac_of(src), ET_IPV4,
            ipv4_header(src, dst, P_UDP, 1480, ident, df=False, mf=True) + dgram[:1480]),
        'first IPv4 fragment of a big DNS answer to the mapping 192.0.2.3:5353')
    add(eth(mac_of(dst), mac_of(src), ET_IPV4,
            ipv4_header(src, dst, P_UDP, len(dgram) - 1480, ident, df=False, frag=1480) +
            dgram[1480:]), 'second IPv4 fragment of it')
    src, dst = addr('198.51.100.10'), addr('192.0.2.2')
    add(g.ip4(src, dst, P_TCP, tcp_seg(src, dst, 80, 40000, 0x5e6f7082, 0, ACK, 502)[:12]),
        'truncated TCP header (12 bytes) from 198.51.100.10:80 to the mapping 192.0.2.2:40000')
    syn = g.ip4(addr('10.0.0.1'), addr('198.51.100.10'), P_TCP,
                tcp_seg(addr('10.0.0.1'), addr('198.51.100.10'), 40001, 80, 0x01010101, 0, SYN, 64240))
    add(mutate(syn, [(0, b'\x44')], fix_ip=True), 'IPv4 IHL 4 from 10.0.0.1')

    # Teardown of A.
    add(a.fin(True), 'A: FIN')
    add(out_a.server(lambda: a.fin(False)), 'A: FIN from the server')
    add(a.ack(), 'A: last ACK')
    return g


class OutsideView:
    """An inside connection as the outside sees it: its inside end is the mapping."""

    def __init__(self, oaddr, oport):
        self.oaddr, self.oport = oaddr, oport

    def server(self, make):
        """A frame from the server, addressed to the mapping."""
        return translate_dst(make(), self.oaddr, self.oport)

    def translate(self, frame):
        """A frame from the inside end, as it leaves the NAT (to quote it in an error)."""
        return translate_src(frame, self.oaddr, self.oport)


def _retarget(frame, a, port, which):
    """A frame with its source or destination address and port replaced, every checksum
    recomputed, and the MAC of that end following the address (a new frame on the wire)."""
    a = addr(a)
    b = bytearray(frame)
    ip = l3_offset(b)[0]
    hl = (b[ip] & 15) * 4
    tot = get16(b, ip + 2)
    proto = b[ip + 9]
    l4 = ip + hl
    if which == 'src':
        b[ip + 12:ip + 16] = a.packed
        put16(b, l4, port)
        b[6:12] = mac_of(a)
    else:
        b[ip + 16:ip + 20] = a.packed
        put16(b, l4 + 2, port)
        b[0:6] = mac_of(a)
    put16(b, ip + 10, 0)
    put16(b, ip + 10, inet_csum(b[ip:ip + hl]))
    cpos = l4 + (16 if proto == P_TCP else 6)
    if proto == P_UDP and get16(b, cpos) == 0:
        return bytes(b)
    put16(b, cpos, 0)
    put16(b, cpos, l4_csum(addr(bytes(b[ip + 12:ip + 16])), addr(bytes(b[ip + 16:ip + 20])), proto,
                           bytes(b[l4:ip + tot])))
    return bytes(b)


def translate_src(frame, a, port):
    return _retarget(frame, a, port, 'src')


def translate_dst(frame, a, port):
    return _retarget(frame, a, port, 'dst')


# ---------------------------------------------------------------------------
# gen

def expectation(scenario, g, outputs, input_name, extra):
    exp = {'scenario': scenario, 'inputs': len(g.frames), 'input': input_name,
           'exact': scenario == 'fw', 'outputs': {o: [] for o in outputs}, 'drop': [], 'why': {}}
    exp.update(extra)
    for n, fr in enumerate(g.frames, 1):
        exp['why'][str(n)] = fr['why']
        if fr['outcome'] == 'drop':
            exp['drop'].append(n)
        else:
            exp['outputs'][fr['outcome']].append({'in': n, 'bytes': fr['expect'].hex()})
    return exp


def sanity(g, scenario):
    """Every input and expected frame parses, with every checksum valid; the frames
    meant to be malformed are the ones the parser says are."""
    for n, fr in enumerate(g.frames, 1):
        for what, data in (('input', fr['bytes']), ('expected', fr.get('expect'))):
            if data is None:
                continue
            p = parse(data)
            bad = [c for c in p.csums if not c[2]]
            if bad:
                raise AssertionError('golden %s: %s frame %d: bad %s' % (scenario, what, n, bad))
            meant = 'malformed' in fr['why'] or 'truncated' in fr['why'] or 'IHL 4' in fr['why']
            if what == 'input' and bool(p.malformed) != meant:
                raise AssertionError('golden %s: frame %d: malformed=%r but the note says %r'
                                     % (scenario, n, p.malformed, fr['why']))


def build_fw():
    g = gen_fw()
    for fr in g.frames:
        fr['expect'] = None if fr['outcome'] == 'drop' else fr['bytes']
    sanity(g, 'fw')
    return g


def build_nat():
    g = gen_nat()
    nat = NatModel()
    out_name = {'inside': 'lan', 'outside': 'wan'}
    for fr in g.frames:
        side, split_why = split_side(fr['bytes'])
        out, exp, why = nat.process(fr['bytes'], side)
        fr['outcome'] = out_name[out] if out else 'drop'
        fr['expect'] = exp
        fr['why'] = '%s. Splitter: %s (NAT %s input). NAT: %s -> %s' % (
            fr['why'], split_why, side, why, fr['outcome'])
    sanity(g, 'nat')
    return g


def cmd_gen(outdir):
    os.makedirs(outdir, exist_ok=True)
    fw = build_fw()
    write_pcap(os.path.join(outdir, 'fw-in.pcap'), [f['bytes'] for f in fw.frames])
    with open(os.path.join(outdir, 'fw.rules'), 'w') as f:
        f.write(FW_RULES)
    exp = expectation('fw', fw, ('out', 'mon'), 'fw-in.pcap', {'rules': 'fw.rules'})
    with open(os.path.join(outdir, 'fw-expect.json'), 'w') as f:
        json.dump(exp, f, indent=1)
        f.write('\n')
    nat = build_nat()
    write_pcap(os.path.join(outdir, 'nat-in.pcap'), [f['bytes'] for f in nat.frames])
    with open(os.path.join(outdir, 'nat-split.rules'), 'w') as f:
        f.write(NAT_SPLIT_RULES)
    with open(os.path.join(outdir, 'nat.args'), 'w') as f:
        f.write(NAT_ARGS)
    exp = expectation('nat', nat, ('lan', 'wan'), 'nat-in.pcap',
                      {'rules': 'nat-split.rules', 'args': NAT_ARGS.strip()})
    with open(os.path.join(outdir, 'nat-expect.json'), 'w') as f:
        json.dump(exp, f, indent=1)
        f.write('\n')
    return fw, nat


# ---------------------------------------------------------------------------
# check

def fmt_value(name, v):
    if isinstance(v, (bytes, bytearray)):
        if not v:
            return '0 bytes'
        if len(v) <= 24:
            return '%d bytes %s' % (len(v), v.hex())
        return '%d bytes %s...' % (len(v), v[:16].hex())
    if isinstance(v, int) and (name.endswith('checksum') or name.endswith('.tci')):
        return '0x%04x' % v
    return str(v)


def same_value(name, e, g):
    if e == g:
        return True
    # A checksum of 0x0000 and one of 0xffff both verify (RFC 1624 §3), except UDP's 0.
    return (name.endswith('checksum') and not name.endswith('udp.checksum') and
            isinstance(e, int) and {e, g} == {0, 0xffff})


def field_diffs(e, g):
    out = []
    gd = dict(g.fields)
    seen = set()
    for name, ev in e.fields:
        seen.add(name)
        if name not in gd:
            out.append('%s: expected %s, got no such field' % (name, fmt_value(name, ev)))
        elif not same_value(name, ev, gd[name]):
            gv = gd[name]
            if isinstance(ev, bytes) and isinstance(gv, bytes):
                k = next((i for i in range(min(len(ev), len(gv))) if ev[i] != gv[i]),
                         min(len(ev), len(gv)))
                out.append('%s: expected %s, got %s (first difference at byte %d)' % (
                    name, fmt_value(name, ev), fmt_value(name, gv), k))
            else:
                out.append('%s: expected %s, got %s' % (name, fmt_value(name, ev), fmt_value(name, gv)))
    for name, gv in g.fields:
        if name not in seen:
            out.append('%s: not expected, got %s' % (name, fmt_value(name, gv)))
    return out


def lis_keep(seq):
    """Indices of a longest increasing subsequence of seq."""
    tails, prev, tail_idx = [], [None] * len(seq), []
    for i, v in enumerate(seq):
        lo, hi = 0, len(tails)
        while lo < hi:
            mid = (lo + hi) // 2
            if tails[mid] < v:
                lo = mid + 1
            else:
                hi = mid
        if lo == len(tails):
            tails.append(v)
            tail_idx.append(i)
        else:
            tails[lo] = v
            tail_idx[lo] = i
        prev[i] = tail_idx[lo - 1] if lo else None
    keep, i = set(), tail_idx[-1] if tail_idx else None
    while i is not None:
        keep.add(i)
        i = prev[i]
    return keep


def match(exp, got):
    """Pair got packets with expected ones: identical bytes first, then the closest by
    fields (at most a third of the fields differ). Returns {got index: exp index}."""
    pairs, used = {}, set()
    by_bytes = {}
    for i, e in enumerate(exp):
        by_bytes.setdefault(e.frame, []).append(i)
    for j, g in enumerate(got):
        for i in by_bytes.get(g.frame, []):
            if i not in used:
                pairs[j] = i
                used.add(i)
                break
    cands = []
    for j, g in enumerate(got):
        if j in pairs:
            continue
        for i, e in enumerate(exp):
            if i in used:
                continue
            n = len(field_diffs(e, g))
            if n <= max(4, len(e.fields) // 3):
                cands.append((n, abs(i - j), j, i))
    for n, _, j, i in sorted(cands):
        if j not in pairs and i not in used:
            pairs[j] = i
            used.add(i)
    return pairs


def identify(g, known):
    """What an unexpected packet is: (description) of the closest known packet, or None."""
    best = None
    for where, n, p in known:
        if p.frame == g.frame:
            return where, n, 0
        d = len(field_diffs(p, g))
        if d <= max(4, len(p.fields) // 3) and (best is None or d < best[2]):
            best = (where, n, d)
    return best


class Tap:
    def __init__(self, w):
        self.w = w
        self.n = 0
        self.failed = 0

    def result(self, ok, desc, details=(), limit=60):
        self.n += 1
        self.w('%s %d - %s\n' % ('ok' if ok else 'not ok', self.n, desc))
        if not ok:
            self.failed += 1
        details = list(details)
        for d in details[:limit]:
            self.w('#   %s\n' % d)
        if len(details) > limit:
            self.w('#   ... and %d more\n' % (len(details) - limit))

    def skip(self, desc, reason):
        self.n += 1
        self.w('ok %d - %s # SKIP %s\n' % (self.n, desc, reason))


def run_tshark(path, short_quotes):
    """[(frame number, field, status)] of every checksum status tshark calls Bad or Illegal,
    and how many statuses were read and ignored. In frames that are ICMP errors quoting
    part of a packet (short_quotes: their frame numbers), the TCP/UDP status is that of
    the quoted segment, which tshark sums over the quote only: ignored (golden.py compares
    that checksum with its RFC 1624 update instead)."""
    cmd = ['tshark', '-n', '-r', path, '-o', 'ip.check_checksum:TRUE',
           '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-T', 'fields',
           '-e', 'frame.number', '-e', 'ip.checksum.status', '-e', 'tcp.checksum.status',
           '-e', 'udp.checksum.status', '-e', 'icmp.checksum.status', '-e', 'icmpv6.checksum.status']
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError('%s: exit %d: %s' % (' '.join(cmd), r.returncode, r.stderr.strip()[-300:]))
    names = ('ip', 'tcp', 'udp', 'icmp', 'icmpv6')
    bad, checked, ignored = [], 0, 0
    for line in r.stdout.splitlines():
        cols = line.split('\t')
        fno = int(cols[0])
        for name, col in zip(names, cols[1:]):
            for v in filter(None, col.split(',')):
                if fno in short_quotes and name in ('tcp', 'udp'):
                    ignored += 1
                    continue
                checked += 1
                if v in ('0', '4', 'Bad', 'Illegal'):
                    bad.append((fno, name, 'Bad' if v in ('0', 'Bad') else 'Illegal'))
    return bad, checked, ignored


def cmd_check(expect_path, pairs, w=sys.stdout.write, tshark=True):
    """Returns the exit code: 0 all pass, 1 a check failed, 2 usage or unreadable input."""
    try:
        with open(expect_path) as f:
            spec = json.load(f)
    except (OSError, ValueError) as e:
        w('golden check: %s: %s\n' % (expect_path, e))
        return 2
    given = {}
    for pair in pairs:
        name, sep, path = pair.partition('=')
        if not sep or not name or not path:
            w('golden check: %r: give NAME=OUT.pcap\n' % pair)
            return 2
        if name not in spec['outputs']:
            w('golden check: no output %r in %s (it has %s)\n' % (
                name, expect_path, ', '.join(sorted(spec['outputs']))))
            return 2
        given[name] = path
    exact = spec.get('exact', False)
    why = spec.get('why', {})

    def note(n):
        return why.get(str(n), '')
    inputs = None
    if spec.get('input'):
        ipath = os.path.join(os.path.dirname(os.path.abspath(expect_path)), spec['input'])
        if os.path.exists(ipath):
            inputs = read_pcap(ipath)
    w('# golden check: %s, scenario %s, %d input frames%s\n' % (
        expect_path, spec['scenario'], spec['inputs'],
        '' if inputs is not None else ' (input pcap not found: unexpected packets are '
        'identified against the expected outputs only)'))
    tap = Tap(w)
    exp = {o: [(e['in'], parse(bytes.fromhex(e['bytes']))) for e in lst]
           for o, lst in spec['outputs'].items()}
    known = [('what input frame %d must become on %s' % (n, o), n, p)
             for o, lst in exp.items() for n, p in lst]
    if inputs is not None:
        known += [('input frame %d, which must be dropped' % n, n, parse(inputs[n - 1]))
                  for n in spec['drop'] if n <= len(inputs)]
    counts = {'ipv4': 0, 'tcp': 0, 'udp': 0, 'icmp': 0, 'icmp6': 0}
    bad_csums = []
    summary = []
    tshark_runs = []
    for o in spec['outputs']:
        elist = exp[o]
        if o not in given:
            if elist:
                tap.result(False, '%s: no output pcap given (%d packets expected)' % (o, len(elist)))
            else:
                tap.skip('%s: no output pcap given' % o, 'nothing expected there')
            summary.append('%s: expected %d, got -' % (o, len(elist)))
            continue
        try:
            gframes = read_pcap(given[o])
        except (OSError, ValueError) as e:
            tap.result(False, '%s: %s' % (o, e))
            summary.append('%s: expected %d, got -' % (o, len(elist)))
            continue
        got = [parse(fr) for fr in gframes]
        summary.append('%s: expected %d, got %d' % (o, len(elist), len(got)))
        ep = [p for _, p in elist]
        pairs_ = match(ep, got)
        tshark_runs.append((o, given[o], {j + 1 for j, g in enumerate(got) if g.short_quote},
                            {j + 1: elist[i][0] for j, i in pairs_.items()}))
        tap.result(len(got) == len(elist), '%s: %d packets (expected %d) in %s' % (
            o, len(got), len(elist), given[o]))
        # Presence.
        details = []
        matched = set(pairs_.values())
        for i, (n, p) in enumerate(elist):
            if i not in matched:
                details.append('input frame %d: missing (expected as %s #%d: %s; %s)' % (
                    n, o, i + 1, p.summary, note(n)))
        for j, g in enumerate(got):
            if j in pairs_:
                continue
            ident = identify(g, known)
            if ident is None:
                details.append('%s #%d: unexpected, matches no input frame: %s' % (o, j + 1, g.summary))
            else:
                where, n, d = ident
                how = 'is exactly' if d == 0 else 'is, but for %d fields,' % d
                details.append('%s #%d: unexpected: %s %s (%s): %s' % (
                    o, j + 1, how, where, note(n), g.summary))
        tap.result(not details, '%s: every expected packet present, nothing unexpected' % o, details)
        # Order.
        order = sorted(pairs_)
        seq = [pairs_[j] for j in order]
        keep = lis_keep(seq)
        details = []
        for k, j in enumerate(order):
            if k in keep:
                continue
            i = pairs_[j]
            after = ('got after input frame %d' % elist[seq[k - 1]][0]) if k else 'got first'
            details.append('input frame %d: out of order: got as %s #%d, expected as #%d (%s)'
                           % (elist[i][0], o, j + 1, i + 1, after))
        tap.result(not details, '%s: in input order' % o, details)
        # Fields and bytes.
        details = []
        for j in order:
            i = pairs_[j]
            n, e = elist[i]
            g = got[j]
            diffs = field_diffs(e, g)
            for d in diffs:
                details.append('input frame %d (%s #%d): %s' % (n, o, j + 1, d))
            if not diffs and exact and e.frame != g.frame:
                k = next((x for x in range(min(len(e.frame), len(g.frame)))
                          if e.frame[x] != g.frame[x]), min(len(e.frame), len(g.frame)))
                details.append('input frame %d (%s #%d): bytes differ at offset %d' % (n, o, j + 1, k))
        tap.result(not details, '%s: every header field, payload and trailer as expected%s' % (
            o, ', byte for byte' if exact else ''), details)
        # Checksums, verified here.
        for j, g in enumerate(got):
            n = elist[pairs_[j]][0] if j in pairs_ else None
            for kind, field, ok, gv, should in g.csums:
                counts[kind] += 1
                if not ok:
                    bad_csums.append('%s #%d (%s): %s 0x%04x is bad, should be 0x%04x' % (
                        o, j + 1, 'input frame %d' % n if n else 'unmatched', field, gv, should))
    tap.result(not bad_csums, 'checksums: every IPv4 header, TCP, UDP, ICMP and ICMPv6 checksum '
               'in the outputs verifies (golden.py)', bad_csums)
    if tshark and shutil.which('tshark') is None:
        tap.skip('tshark checksum status', 'tshark not found: checksums verified by golden.py only')
    elif tshark:
        details, total, skipped = [], 0, 0
        for o, path, short, innum in tshark_runs:
            try:
                bad, checked, ignored = run_tshark(path, short)
            except RuntimeError as e:
                details.append(str(e))
                continue
            total += checked
            skipped += ignored
            for fno, field, status in bad:
                details.append('%s #%d (%s): tshark says %s.checksum.status %s' % (
                    o, fno, 'input frame %d' % innum[fno] if fno in innum else 'unmatched',
                    field, status))
        tap.result(not details, 'tshark: no Bad or Illegal checksum status (%d statuses read, '
                   '%d of segments quoted in part by ICMP errors ignored)' % (total, skipped), details)
    for s in summary:
        w('# packets %s\n' % s)
    w('# checksums verified: %d IPv4 headers, %d TCP, %d UDP, %d ICMP, %d ICMPv6 (%s)\n' % (
        counts['ipv4'], counts['tcp'], counts['udp'], counts['icmp'], counts['icmp6'],
        'all good' if not bad_csums else '%d bad' % len(bad_csums)))
    if tshark and shutil.which('tshark') is None:
        w('# tshark not found: checksums verified by golden.py only\n')
    w('1..%d\n' % tap.n)
    return 1 if tap.failed else 0


# ---------------------------------------------------------------------------
# selftest

def perfect_outputs(spec):
    return {o: [bytes.fromhex(e['bytes']) for e in lst] for o, lst in spec['outputs'].items()}


def first_index(frames, pred):
    for i, fr in enumerate(frames):
        if pred(parse(fr)):
            return i
    raise AssertionError('selftest: no frame fits')


def cmd_selftest():
    tmp = tempfile.mkdtemp(prefix='golden-selftest-')
    failures = 0
    try:
        fw, nat = cmd_gen(tmp)
        # Deterministic: a second gen gives the same bytes.
        tmp2 = os.path.join(tmp, 'again')
        cmd_gen(tmp2)
        for name in ('fw-in.pcap', 'fw.rules', 'fw-expect.json', 'nat-in.pcap',
                     'nat-split.rules', 'nat.args', 'nat-expect.json'):
            with open(os.path.join(tmp, name), 'rb') as a, open(os.path.join(tmp2, name), 'rb') as b:
                if a.read() != b.read():
                    print('selftest: FAIL: %s differs between two runs of gen' % name)
                    failures += 1
        print('selftest: gen into %s: fw %d frames, nat %d frames; a second gen is byte-identical'
              % (tmp, len(fw.frames), len(nat.frames)))
        specs = {}
        for scen in ('fw', 'nat'):
            with open(os.path.join(tmp, '%s-expect.json' % scen)) as f:
                specs[scen] = json.load(f)

        def run(scen, outs, tag, show=False):
            paths = []
            for o, frames in outs.items():
                path = os.path.join(tmp, '%s-%s-%s.pcap' % (scen, tag, o))
                write_pcap(path, frames)
                paths.append('%s=%s' % (o, path))
            buf = io.StringIO()
            rc = cmd_check(os.path.join(tmp, '%s-expect.json' % scen), paths, buf.write)
            if show:
                sys.stdout.write(''.join('    ' + line + '\n' for line in buf.getvalue().splitlines()))
            return rc, buf.getvalue()

        for scen in ('fw', 'nat'):
            rc, text = run(scen, perfect_outputs(specs[scen]), 'perfect', show=True)
            ok = rc == 0
            failures += not ok
            print('selftest: %s: perfect outputs pass: %s (rc %d)' % (scen, 'yes' if ok else 'NO', rc))
        # The CLI itself, once, in a child process.
        r = subprocess.run([sys.executable, os.path.abspath(__file__), 'check',
                            os.path.join(tmp, 'fw-expect.json'),
                            'out=' + os.path.join(tmp, 'fw-perfect-out.pcap'),
                            'mon=' + os.path.join(tmp, 'fw-perfect-mon.pcap')],
                           capture_output=True, text=True)
        failures += r.returncode != 0
        print('selftest: `golden.py check fw-expect.json out=... mon=...` as a command: rc %d'
              % r.returncode)

        def broken(scen, desc, change, needles):
            nonlocal failures
            outs = perfect_outputs(specs[scen])
            change(outs)
            rc, text = run(scen, outs, 'broken')
            lines = [line for line in text.splitlines() if line.startswith('not ok') or
                     line.startswith('#   ')]
            found = all(any(nd in line for line in lines) for nd in needles)
            good = rc == 1 and found
            failures += not good
            print('selftest: %s: %s: %s (rc %d)' % (scen, desc, 'caught' if good else 'NOT CAUGHT', rc))
            for line in lines:
                print('    ' + line)

        def flip_tcp_csum(outs):
            i = first_index(outs['out'], lambda p: p_get(p, 'tcp.checksum') is not None)
            b = bytearray(outs['out'][i])
            off = l3_offset(b)[0]
            hl = (b[off] & 15) * 4
            b[off + hl + 17] ^= 0x01
            outs['out'][i] = bytes(b)
        broken('fw', 'one byte of one TCP checksum flipped', flip_tcp_csum,
               ['tcp.checksum: expected', 'tcp.checksum 0x'])

        def change_port(outs):
            # A translated SYN leaving with source port 40001 instead of 40000; checksums fixed.
            i = first_index(outs['wan'], lambda p: p_get(p, 'tcp.sport') == 40000)
            b = bytearray(outs['wan'][i])
            ip = l3_offset(b)[0]
            hl = (b[ip] & 15) * 4
            tot = get16(b, ip + 2)
            put16(b, ip + hl, 40001)
            put16(b, ip + hl + 16, 0)
            put16(b, ip + hl + 16, l4_csum(addr(bytes(b[ip + 12:ip + 16])),
                                           addr(bytes(b[ip + 16:ip + 20])), P_TCP,
                                           bytes(b[ip + hl:ip + tot])))
            outs['wan'][i] = bytes(b)
        broken('nat', 'one translated port changed (checksum kept valid)', change_port,
               ['tcp.sport: expected 40000, got 40001'])

        def drop_one(outs):
            del outs['out'][5]
        broken('fw', 'one packet dropped (out #6)', drop_one, ['missing', 'packets (expected'])

        def swap_two(outs):
            outs['out'][10], outs['out'][20] = outs['out'][20], outs['out'][10]
        broken('fw', 'two packets swapped (out #11 and #21)', swap_two, ['out of order'])

        def leak(outs):
            n = specs['fw']['drop'][0]
            outs['mon'].append(read_pcap(os.path.join(tmp, 'fw-in.pcap'))[n - 1])
        broken('fw', 'a packet that must be dropped appears on mon', leak,
               ['which must be dropped'])

        def wrong_side(outs):
            outs['lan'].append(outs['wan'].pop(3))
        broken('nat', 'a packet on lan instead of wan', wrong_side,
               ['missing', 'must become on wan'])

        def inner_csum(outs):
            i = first_index(outs['lan'], lambda p: p_get(p, 'icmp.inner.udp.checksum') is not None)
            b = bytearray(outs['lan'][i])
            ip = l3_offset(b)[0]
            hl = (b[ip] & 15) * 4
            inner = ip + hl + 8
            ihl = (b[inner] & 15) * 4
            c = get16(b, inner + ihl + 6)
            put16(b, inner + ihl + 6, (c + 1) & 0xffff)
            put16(b, ip + hl + 2, 0)        # the ICMP checksum stays valid
            put16(b, ip + hl + 2, inet_csum(b[ip + hl:ip + get16(b, ip + 2)]))
            outs['lan'][i] = bytes(b)
        broken('nat', 'the embedded UDP checksum of an ICMP error off by one (ICMP checksum valid)',
               inner_csum, ['icmp.inner.udp.checksum: expected'])

        def untranslated(outs):
            # The NAT forgot the ICMP error's embedded address (the outer one is right).
            i = first_index(outs['lan'], lambda p: p_get(p, 'icmp.inner.ip.src') == '10.0.0.2')
            b = bytearray(outs['lan'][i])
            ip = l3_offset(b)[0]
            hl = (b[ip] & 15) * 4
            inner = ip + hl + 8
            b[inner + 12:inner + 16] = addr('192.0.2.3').packed
            put16(b, inner + 10, 0)
            put16(b, inner + 10, inet_csum(b[inner:inner + 20]))
            put16(b, ip + hl + 2, 0)
            put16(b, ip + hl + 2, inet_csum(b[ip + hl:ip + get16(b, ip + 2)]))
            outs['lan'][i] = bytes(b)
        broken('nat', 'an ICMP error with its embedded source left untranslated', untranslated,
               ['icmp.inner.ip.src: expected 10.0.0.2, got 192.0.2.3'])

        def recomputed_quote(outs):
            # The embedded TCP checksum of a part-quoted segment recomputed over the quote
            # (wrong: only an incremental update can be right), the ICMP checksum valid.
            i = first_index(outs['lan'], lambda p: p.short_quote and
                            p_get(p, 'icmp.inner.tcp.checksum') is not None)
            b = bytearray(outs['lan'][i])
            ip = l3_offset(b)[0]
            hl = (b[ip] & 15) * 4
            end = ip + get16(b, ip + 2)
            inner = ip + hl + 8
            il4 = inner + (b[inner] & 15) * 4
            put16(b, il4 + 16, 0)
            put16(b, il4 + 16, l4_csum(addr(bytes(b[inner + 12:inner + 16])),
                                       addr(bytes(b[inner + 16:inner + 20])), P_TCP, b[il4:end]))
            put16(b, ip + hl + 2, 0)
            put16(b, ip + hl + 2, inet_csum(b[ip + hl:end]))
            outs['lan'][i] = bytes(b)
        broken('nat', 'the embedded TCP checksum of a part-quoted segment recomputed over the quote',
               recomputed_quote, ['icmp.inner.tcp.checksum: expected'])
    finally:
        if failures == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print('selftest: files kept in %s' % tmp)
    print('selftest: %s' % ('PASS' if failures == 0 else 'FAIL (%d)' % failures))
    return 0 if failures == 0 else 1


def main(argv):
    ap = argparse.ArgumentParser(prog='golden.py', description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('gen', help='write the scenario files into OUTDIR')
    p.add_argument('outdir')
    p = sub.add_parser('check', help='check output pcaps against an expectation')
    p.add_argument('expect')
    p.add_argument('outputs', nargs='+', metavar='NAME=OUT.pcap')
    p.add_argument('--no-tshark', action='store_true', help='do not run tshark even if present')
    sub.add_parser('selftest', help='check perfect and broken outputs')
    a = ap.parse_args(argv)
    if a.cmd == 'gen':
        fw, nat = cmd_gen(a.outdir)
        for name, g in (('fw', fw), ('nat', nat)):
            outs = {}
            for fr in g.frames:
                outs[fr['outcome']] = outs.get(fr['outcome'], 0) + 1
            print('%s: %d frames: %s' % (name, len(g.frames),
                                          ', '.join('%s %d' % kv for kv in sorted(outs.items()))))
        return 0
    if a.cmd == 'check':
        try:
            return cmd_check(a.expect, a.outputs, tshark=not a.no_tshark)
        except ValueError as e:
            print('golden check: %s' % e)
            return 2
    return cmd_selftest()


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:             # e.g. piped into head
        sys.stderr.close()
        sys.exit(1)
