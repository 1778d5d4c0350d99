"""A one-zone DNS server for tests, over UDP: answers A queries from a JSON file of
{"name": "IPv4 address"} that is read again for every query (so a test moves a name by
rewriting the file), with TTL 0, answers other types with no records, unknown names with
NXDOMAIN, and appends each query's name and type to --log."""

import argparse
import json
import socket
import struct

TYPE_A = 1
CLASS_IN = 1


def question(packet):
    """The query's name, type and the end offset of its question section."""
    labels, offset = [], 12
    while length := packet[offset]:
        labels.append(packet[offset + 1:offset + 1 + length].decode("ascii").lower())
        offset += 1 + length
    qtype, _ = struct.unpack("!HH", packet[offset + 1:offset + 5])
    return ".".join(labels), qtype, offset + 5


def answer(packet, zone):
    (query_id,) = struct.unpack("!H", packet[:2])
    name, qtype, end = question(packet)
    address = zone.get(name)
    records = b""
    if address and qtype == TYPE_A:
        # A pointer to the name in the question (offset 12), then the A record.
        records = struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, 0, 4) + socket.inet_aton(address)
    rcode = 0 if name in zone else 3
    header = struct.pack("!HHHHHH", query_id, 0x8180 | rcode, 1, 1 if records else 0, 0, 0)
    return header + packet[12:end] + records, name, qtype


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=53)
    parser.add_argument("--zone", required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind((args.listen, args.port))
    print("ready", flush=True)
    while True:
        packet, client = server.recvfrom(4096)
        try:
            with open(args.zone) as zone_file:
                zone = json.load(zone_file)
            reply, name, qtype = answer(packet, zone)
        except (ValueError, IndexError, struct.error, OSError):
            continue
        with open(args.log, "a") as log:
            log.write(f"{name} {qtype}\n")
        server.sendto(reply, client)


if __name__ == "__main__":
    main()
