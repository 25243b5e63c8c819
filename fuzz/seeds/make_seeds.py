#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/seeds/<target>/ (run from anywhere; idempotent).

Seeds are valid inputs taken from docs/protocol.md and the RFCs so the fuzzer starts past
the length and magic checks instead of having to discover them."""
import os, struct

HERE = os.path.dirname(os.path.abspath(__file__))

def put(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes(data))

def hexdump(s):
    out = []
    for line in s.strip().splitlines():
        out += [int(x, 16) for x in line.split()[1:]]
    return bytes(out)

# docs/protocol.md, Redirect protocol, Example 1 (Emit) and Example 2 (Hello).
EMIT = hexdump("""
0000  48 52 01 02 00 00 00 01 01 02 03 04 05 06 07 08
0010  00 00 00 00 00 00 00 01 00 00 01 8b cf e5 68 00
0020  20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01
0030  9c 40 20 01 0d b8 00 01 00 00 00 00 00 00 00 00
0040  00 02 16 34 00 04 de ad be ef 05 ce 7c 2b 73 9a
0050  8e c8 bb c4 bc 25 4a ad 97 e6
""")
HELLO = hexdump("""
0000  48 52 01 05 00 00 00 01 01 02 03 04 05 06 07 08
0010  00 00 00 00 00 00 00 00 00 00 01 8b cf e5 68 00
0020  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0030  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0040  00 00 00 00 00 00 a6 1c 98 dc 20 9d 21 24 ed b3
0050  3a 6b 67 0f 25 40
""")
put("redirect_message", "emit_example", EMIT)
put("redirect_message", "hello_example", HELLO)

# docs/protocol.md, HRM rules: a client's final flight in one datagram.
FINAL_FLIGHT = bytes.fromhex(
    "16fefd00000000000000030004" "10000041"
    "14fefd00000000000000040001" "01"
    "16fefd00010000000000000008" "deadbeef01020304")

def record(ctype, epoch, seq, body):
    return bytes([ctype, 0xfe, 0xfd]) + struct.pack(">H", epoch) + seq.to_bytes(6, "big") + struct.pack(">H", len(body)) + body

def handshake(mtype, seq, body):
    n = len(body).to_bytes(3, "big")
    return bytes([mtype]) + n + struct.pack(">H", seq) + b"\0\0\0" + n + body

def client_hello(cookie=b"", suites=(0xc0a8,), exts=b""):
    b = b"\xfe\xfd" + bytes(range(32)) + b"\x00" + bytes([len(cookie)]) + cookie
    b += struct.pack(">H", 2 * len(suites)) + b"".join(struct.pack(">H", s) for s in suites)
    b += b"\x01\x00"
    if exts:
        b += struct.pack(">H", len(exts)) + exts
    return b

# extended_master_secret (23) and renegotiation_info (0xff01), both empty/zero.
EXTS = b"\x00\x17\x00\x00" + b"\xff\x01\x00\x01\x00"
CH0 = record(22, 0, 0, handshake(1, 0, client_hello(suites=(0xc0a8, 0x00ff), exts=EXTS)))
CH1 = record(22, 0, 1, handshake(1, 1, client_hello(cookie=bytes(32), suites=(0xc0a8, 0xc0ae), exts=EXTS)))
ALERT = record(21, 0, 2, b"\x02\x28")
put("dtls_record", "final_flight", FINAL_FLIGHT)
put("dtls_record", "client_hello", CH0)
put("dtls_record", "alert", ALERT)
put("dtls_handshake", "client_hello", handshake(1, 0, client_hello(suites=(0xc0a8,), exts=EXTS)))
put("dtls_handshake", "client_key_exchange_psk", handshake(16, 3, b"\x00\x02id"))
# dtls_server: [len u8][datagram] chunks.
put("dtls_server", "hello_cookie_hello", bytes([len(CH0)]) + CH0 + bytes([len(CH1)]) + CH1 + bytes([len(FINAL_FLIGHT)]) + FINAL_FLIGHT)

# hrm_classify: [selector, len, bytes]; selector 1 wraps the bytes in UDP peer -> mote:5684.
put("hrm_classify", "hello_then_flight",
    bytes([1, len(CH0)]) + CH0 + bytes([1, len(FINAL_FLIGHT)]) + FINAL_FLIGHT + bytes([2, 4]) + b"\x14\xfe\xfd\x00" + bytes([4, 10]))

# IEEE 802.15.4 data frame: intra-PAN, short dst 0xffff, extended src, PAN 0xabcd, IPHC payload.
IPHC = bytes([0x7a, 0x33, 0x3a, 128, 0, 0xab, 0xcd, 0, 1, 0, 7])   # lowpan/src/iphc/tests.rs
MAC = bytes([0x41, 0xc8, 0x01, 0xcd, 0xab, 0xff, 0xff]) + bytes([2, 0, 0, 0, 0, 0x4b, 0x12, 0])
FRAME = MAC + IPHC
put("ieee802154_parse", "data_frame", FRAME)
put("ieee802154_parse", "short_short", bytes([0x41, 0x88, 0x02, 0xcd, 0xab, 0x02, 0x00, 0x01, 0x00]) + IPHC)
put("motesim_mote_frame", "data_frame", FRAME)
for i, w in enumerate([IPHC, bytes([0x7b, 0x3b, 0x3a, 0x1a, 155, 1, 0, 0]), bytes([0x7a, 0x39, 59, 0x0e, 0x12, 0x34, 0x56, 0x78, 0x9a]),
                       bytes([0x7a, 0x22, 59, 0x12, 0x34, 0x00, 0x01])]):
    put("iphc_decompress", f"iphc{i}", bytes([0x0a]) + w)

# reassembly: [len, flags, payload]: FRAG1 (size 200, tag 1) then FRAGN offset 80 (640 bytes).
frag1 = bytes([0xc0 | 0, 200, 0, 1]) + IPHC + bytes(64 - len(IPHC) + 16)
fragn = bytes([0xe0, 200, 0, 1, 80 // 8]) + bytes(120)
put("reassembly", "two_fragments", bytes([len(frag1), 0]) + frag1 + bytes([len(fragn), 0]) + fragn)

# slip-radio (docs/slip-radio.md): SLIP END-framed "!S" send-frame message and "?M" query.
def slip(b):
    return b"\xc0" + b.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"
SEND = b"!S\x01\x00" + FRAME
put("slip_decode", "send_frame", slip(SEND) + slip(b"?M"))
put("radio_message", "send_frame", SEND)
put("radio_message", "query_mac", b"?M")
put("radio_message", "tx_result", b"!R\x01\x00\x01")
put("radio_message", "received_frame", FRAME)
put("radio_message", "mac", b"!M" + bytes([2, 0, 0, 0, 0, 0, 0, 1]))
put("motesim_serial", "send_and_query", slip(SEND) + slip(b"?M") + slip(b"?C"))

# ZEP v2 data datagram (docs/zep.md) carrying FRAME + FCS (CRC-16/KERMIT, little-endian).
def kermit(b):
    crc = 0
    for x in b:
        crc ^= x
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc
psdu = FRAME + kermit(FRAME).to_bytes(2, "little")
zep = b"EX\x02\x01\x1a\x00\x01\x01\xff" + bytes(8) + b"\x00\x00\x00\x07" + bytes(10) + bytes([len(psdu)]) + psdu
assert len(zep) == 32 + len(psdu)
put("zep_parse", "data_frame", zep)

# The association (docs/mote-association.md, "Worked example"): every message of the example.
import re
DOC = open(os.path.join(HERE, "..", "..", "docs", "mote-association.md")).read()
for tag, block in re.findall(r"```text (assoc-[a-z0-9-]+)\n(.*?)```", DOC, re.S):
    put("assoc_wire", tag, bytes(int(x, 16) for x in block.split()))
# assoc_machines steps [selector % 5][len][bytes]: exchange, start a transfer, exchange,
# two seconds pass, the example's Transfer 0 and Poke to the mote.
example = {t: bytes(int(x, 16) for x in b.split()) for t, b in re.findall(r"```text (assoc-[a-z0-9-]+)\n(.*?)```", DOC, re.S)}
steps = bytes([4, 0, 3, 0, 4, 0, 2, 1, 20])
steps += bytes([0, len(example["assoc-transfer-0"])]) + example["assoc-transfer-0"]
steps += bytes([0, len(example["assoc-poke"])]) + example["assoc-poke"] + bytes([4, 0])
put("assoc_machines", "transfer_and_replays", steps)
