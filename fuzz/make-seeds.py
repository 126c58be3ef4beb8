#!/usr/bin/env python3
"""Writes the seed corpora fuzz/seeds/{netlink,procfs} from the recorded test fixtures.

Run from anywhere: python3 fuzz/make-seeds.py. Seeds are small on purpose (libFuzzer grows its
own corpus under .build-fuzz/); the first byte of each seed selects the harness's decoder, see
the comments at the top of fuzz/FuzzNetlink.swift and fuzz/FuzzProcFS.swift.
"""
import os
import re
import shutil
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOCK = os.path.join(ROOT, "Tests/SockDiagTests/Fixtures")
OUT = os.path.join(ROOT, "fuzz/seeds")

# Netlink harness selectors (FuzzNetlink.swift).
PAYLOAD = 18
RECORD_FILE, FRAMING, BYTECODE, FILTER = 36, 37, 38, 39
MAGIC = b"FSRECv1\n"


def chunks(data):
    """(tag, datagram) of an FSRECv1 file."""
    assert data.startswith(MAGIC)
    off = len(MAGIC)
    while off < len(data):
        tag = data[off]
        (length,) = struct.unpack_from("<I", data, off + 1)
        yield tag, data[off + 5 : off + 5 + length]
        off += 5 + length


def messages(datagram):
    """(type, whole message) of one datagram."""
    off = 0
    while off + 16 <= len(datagram):
        length, kind = struct.unpack_from("<IH", datagram, off)
        yield kind, datagram[off : off + length]
        off += (length + 3) & ~3


def nlmsg(kind, payload, flags=2):
    return struct.pack("<IHHII", 16 + len(payload), kind, flags, 1, 4242) + payload


def annotated(path):
    """Bytes of a .hex fixture: hex digits before each line's '#'."""
    digits = "".join("".join(line.split("#", 1)[0].split()) for line in open(path))
    return bytes.fromhex(digits)


def netlink_seeds():
    seeds = {}
    for name in sorted(os.listdir(SOCK)):
        path = os.path.join(SOCK, name)
        stem = name.rsplit(".", 1)[0]
        if name.endswith(".bin"):
            data = open(path, "rb").read()
            seeds["rec-" + stem] = bytes([RECORD_FILE]) + data
            tag, datagram = next(chunks(data))
            seeds["dg-" + stem] = bytes([tag]) + datagram
            for kind, message in messages(datagram):
                if kind == 20:
                    seeds["pl-" + stem] = bytes([PAYLOAD + tag]) + message[16:]
                    break
        elif name.endswith(".hex"):
            message = annotated(path)
            if stem.startswith("inet"):
                tag = 0 if message[16] == 2 else 1
            else:
                tag = {"unix": 4, "packet": 5, "netlink": 6}[stem.split("-")[0]]
            seeds["dg-" + stem] = bytes([tag]) + message
            seeds["pl-" + stem] = bytes([PAYLOAD + tag]) + message[16:]

    # The benchmark recording is 1.4 MB: keep two messages of its first datagram.
    bench = open(os.path.join(ROOT, "bench/tcp-3k.fsrec"), "rb").read()
    tag, datagram = next(chunks(bench))
    two = b"".join(m for _, m in list(messages(datagram))[:2])
    seeds["dg-bench-tcp-3k"] = bytes([tag]) + two
    seeds["rec-bench-tcp-3k"] = (bytes([RECORD_FILE]) + MAGIC + bytes([tag])
                                 + struct.pack("<I", len(two)) + two)

    # No fixture records vsock: a struct vsock_diag_msg (32 bytes) by hand.
    vsock = struct.pack("<BBBBIIIIIII", 40, 1, 1, 0, 3, 1024, 2, 5000, 12345, 1, 0)
    seeds["dg-vsock"] = bytes([13]) + nlmsg(20, vsock) + nlmsg(3, struct.pack("<i", 0))
    seeds["pl-vsock"] = bytes([PAYLOAD + 13]) + vsock

    # Framing: an NLMSG_ERROR (-EPERM with the offending header), a DONE with NLM_F_DUMP_INTR,
    # a NOOP, and a message with nested attributes.
    error = nlmsg(2, struct.pack("<i", -1) + nlmsg(20, b"", flags=0x301), flags=0)
    done_intr = nlmsg(3, struct.pack("<i", 0), flags=0x12)
    nested = struct.pack("<HHHHI", 12, 0x8001, 8, 2, 7)
    seeds["framing"] = bytes([FRAMING]) + error + done_intr + nlmsg(1, b"") + nlmsg(20, nested)
    seeds["dg-error"] = bytes([0]) + error

    # Bytecode: "sport = 8080 or dport = 8080", then src 127.0.0.0/8 (as ss would send it).
    ports = bytes.fromhex("0b080c000000901f" "01040c00" "0c080c0000001f90")
    cond = bytes.fromhex("07101400" "0208" "0000" "ffffffff" "7f000001")
    seeds["bytecode"] = bytes([BYTECODE]) + ports + cond
    # Filter descriptions: port 8080; local 127.0.0.0/8; remote v6 ::1 port 443; interface 2.
    seeds["filter"] = (bytes([FILTER, 0, 0x90, 0x1F, 1, 0, 8, 127, 0, 0, 1])
                       + bytes([2 | (3 << 3), 0, 128]) + struct.pack("<H", 443)
                       + bytes(15) + b"\x01" + bytes([3, 2, 0, 0, 0, 4]))
    return seeds


def swift_literals(path):
    """name -> bytes of each `static let name = Array("…".utf8)` in a Swift fixture file."""
    text = open(path).read()
    escapes = {"n": "\n", "t": "\t", "0": "\0", "\\": "\\", '"': '"'}

    def unescape(s):
        return re.sub(r"\\(.)", lambda m: escapes[m.group(1)], s)

    found = {}
    for m in re.finditer(r'static let (\w+) = Array\(\s*"""\n(.*?)\n( *)"""', text, re.S):
        indent = len(m.group(3))
        lines = [line[indent:] for line in m.group(2).split("\n")]
        found[m.group(1)] = unescape("\n".join(lines)).encode()
    for m in re.finditer(r'static let (\w+) = Array\(\s*"(?!"")((?:[^"\\]|\\.)*)"', text):
        found[m.group(1)] = unescape(m.group(2)).encode()
    return found


def dirents(names):
    """A getdents64 buffer: d_ino u64, d_off i64, d_reclen u16, d_type u8, name, NUL, padding."""
    out = b""
    for i, (name, kind) in enumerate(names):
        reclen = (19 + len(name) + 1 + 7) & ~7
        out += struct.pack("<QqHB", 1000 + i, i + 1, reclen, kind) + name
        out += bytes(reclen - 19 - len(name))
    return out


def procfs_seeds():
    fixtures = swift_literals(os.path.join(ROOT, "Tests/ProcFSTests/Fixtures.swift"))
    selector = {"Stat": 0, "Status": 1, "Limits": 2, "Cmdline": 3}
    seeds = {}
    for name, data in fixtures.items():
        kind = next(k for k in selector if name.endswith(k))
        seeds[name] = bytes([selector[kind]]) + data
    links = [b"socket:[12345]", b"pipe:[678]", b"anon_inode:[eventfd]", b"anon_inode:inotify",
             b"/tmp/x (deleted)", b"net:[4026531840]"]
    for i, link in enumerate(links):
        seeds["fd-%d" % i] = b"\x04" + link
    seeds["dirent"] = b"\x05" + dirents([(b".", 4), (b"..", 4), (b"1", 4), (b"4242", 4),
                                         (b"self", 10), (b"7", 10)])
    seeds["numeric"] = b"\x064242"
    seeds["sockstat"] = b"\x07sockets: used 100237\nTCP: inuse 5 orphan 0 tw 0 alloc 7 mem 1\n"
    seeds["cgroup-docker"] = b"\x08" + b"0::/system.slice/docker-" + b"0123456789abcdef" * 4 + b".scope\n"
    seeds["cgroup-kubepods"] = (b"\x08" + b"12:cpu,cpuacct:/kubepods/burstable/pod1234/"
                                + b"fedcba9876543210" * 4 + b"\n")
    seeds["docker-config"] = (b"\x09" + b'{"State":{"Pid":42},"ID":"ab","Config":{"Labels":{"a\\"b":"c"}},'
                              + b'"MountPoints":{"/d":{"Name":"v"}},"Name":"/web-\\u00e9","SizeRw":-1.5e3}')
    seeds["podman-containers"] = (b"\x09" + b'[{"id":"0123456789ab","names":["db","x"],"flags":{}},'
                                  + b'{"id":"ff","names":[],"metadata":"{\\"a\\":1}"}]')
    return seeds


def write(directory, seeds):
    path = os.path.join(OUT, directory)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    for name, data in seeds.items():
        with open(os.path.join(path, name), "wb") as f:
            f.write(data)
    print("%s: %d seeds, %d bytes" % (path, len(seeds), sum(map(len, seeds.values()))))


write("netlink", netlink_seeds())
write("procfs", procfs_seeds())
