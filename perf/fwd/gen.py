#!/usr/bin/env python3
"""Traffic and configs for the vnetd vs l3fwd forwarding benchmark (perf/fwd).

Writes into OUT (a work directory under target/, never committed):

  rules_v4.cfg, rules_v6.cfg   l3fwd --rule_ipv4/--rule_ipv6 files: `R<prefix>/<len> 1`
  routes.txt                   the same routes for vnetd's routes_file: `PREFIX GATEWAY`
  v4.pcap, v6.pcap             64-byte UDP/IPv4 frames (62-byte UDP/IPv6: the smallest
                               there is), destinations drawn uniformly over the prefixes
  vnetd-s1.toml, vnetd-s6.toml scenarios 1 (IPv4) and 6 (IPv6): one vnet, full tables
  vnetd-s2.toml, vnetd-s3.toml scenario 1 + a 100-rule stateless firewall (+ keep-state)
  vnetd-s5.toml                scenario 1 + one rule sending every frame into a pipe
                               without a bandwidth limit (what the shaper path costs)
  vnetd-lat.toml               scenario 1 on two memif ports (client of the latency
                               probe's sockets lat-in.sock, lat-out.sock here)
  v4-q0.pcap, v4-q1.pcap       v4.pcap split in two: two RX queues of one net_pcap port
  vnetd-s1q2w{1,2}.toml        scenario 1 on those two queues with 1 and 2 workers
  vnets-p*.pcap, vnetd-s4.toml scenario 4 (--vnets N): N vnets on VLANs of up to 4000
                               per trunk pair (in_k/out_k), 100 routes each
  meta.json                    what was generated (table source, counts, skipped routes)

Routes come from the real RouteViews tables in ../shared/data; when they are absent a
synthetic table with the same prefix-length mix is generated instead, and meta.json and
stdout say so. Every route goes to port 1 (net_null) through one gateway that vnetd
knows by a static neighbor entry, so neither program resolves anything while measured.
Python 3 standard library only.
"""

import argparse
import gzip
import ipaddress
import json
import os
import random
import struct
import sys

# Addresses of the benchmark topology (documentation ranges: not in a real table).
IN_NET4, IN_ADDR4, SRC4 = "198.51.100.0/24", "198.51.100.1", "198.51.100.2"
OUT_NET4, OUT_ADDR4, GW4 = "192.0.2.0/24", "192.0.2.1", "192.0.2.2"
IN_NET6, IN_ADDR6, SRC6 = "2001:db8:2::/64", "2001:db8:2::1", "2001:db8:2::2"
OUT_NET6, OUT_ADDR6, GW6 = "2001:db8:1::/64", "2001:db8:1::1", "2001:db8:1::2"
# vnetd's interface MAC on the pcap port: the frames' destination MAC.
ROUTER_MAC = "02:00:00:00:00:01"
PEER_MAC = "02:00:00:00:00:02"   # frames' source MAC
GW_MAC = "02:00:00:00:00:fe"     # the gateway's static neighbor entry
OUT_MAC = "02:00:00:00:01:01"

# Ranges a router never forwards to (or treats specially); no route or destination
# is taken from them, so both programs do the same work on every frame.
MARTIANS4 = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "127.0.0.0/8", "224.0.0.0/3", IN_NET4, OUT_NET4)]
MARTIANS6 = [ipaddress.ip_network(n) for n in (
    "::/8", "fe80::/10", "ff00::/8", IN_NET6, OUT_NET6)]

# Prefix-length mix of the 2014 table (../shared/data/README.md), for the fallback.
V4_MIX = {24: 270023, 22: 57782, 23: 47385, 21: 37624, 20: 35828, 19: 24936,
          16: 13017, 18: 12000, 17: 7000, 15: 1500, 14: 1000, 13: 500, 12: 300,
          11: 100, 10: 50, 9: 20, 8: 15, 25: 1000, 26: 800, 27: 500, 28: 400,
          29: 300, 30: 200, 32: 100}
V6_MIX = {48: 12142, 32: 7262, 40: 1221, 44: 1125, 36: 1004, 29: 859, 64: 772,
          46: 379, 33: 313, 126: 269, 28: 200, 34: 200, 35: 150, 47: 150,
          56: 100, 128: 50}


def overlaps(net, martians):
    return any(net.overlaps(m) for m in martians)


def load_real(path, family):
    """Prefixes of one family from a pyasn .dat.gz file."""
    want_v6 = family == 6
    out = []
    with gzip.open(path, "rt") as f:
        for line in f:
            if not line or line[0] == ";":
                continue
            pfx = line.split()[0] if line.strip() else ""
            if not pfx or ((":" in pfx) != want_v6):
                continue
            out.append(pfx)
    return out


def synthetic(family, count, rng):
    mix = V4_MIX if family == 4 else V6_MIX
    total = sum(mix.values())
    bits = 32 if family == 4 else 128
    out = set()
    for length, n in mix.items():
        n = max(1, round(n * count / total))
        while n > 0:
            if family == 4:
                host = rng.getrandbits(32)
            else:  # global unicast 2000::/3, like the real table
                host = (0x2 << 124) | rng.getrandbits(125)
            net = (host >> (bits - length)) << (bits - length) if length else 0
            out.add(f"{ipaddress.ip_address(net)}/{length}")
            n -= 1
    return sorted(out)


def clean(prefixes, family):
    """Validated, de-duplicated networks; counts what was skipped and why."""
    martians = MARTIANS4 if family == 4 else MARTIANS6
    seen, nets = set(), []
    skipped = {"host_bits": 0, "reserved": 0, "duplicate": 0}
    for p in prefixes:
        try:
            net = ipaddress.ip_network(p, strict=True)
        except ValueError:
            skipped["host_bits"] += 1
            continue
        if net.prefixlen == 0 or overlaps(net, martians):
            # A default route or one over the benchmark's own subnets would make some
            # destinations local to vnetd; drop it from both programs.
            skipped["reserved"] += 1
            continue
        if net in seen:
            skipped["duplicate"] += 1
            continue
        seen.add(net)
        nets.append(net)
    return nets, skipped


def draw(nets, n, rng, family):
    """n destinations: a prefix uniformly at random, then random host bits."""
    martians = MARTIANS4 if family == 4 else MARTIANS6
    out = []
    while len(out) < n:
        net = nets[rng.randrange(len(nets))]
        host_bits = net.max_prefixlen - net.prefixlen
        a = int(net.network_address) | (rng.getrandbits(host_bits) if host_bits else 0)
        addr = ipaddress.ip_address(a)
        if family == 4 and (a & 0xFF) in (0, 255) and host_bits >= 8:
            continue  # keep clear of subnet-broadcast-looking addresses
        if any(addr in m for m in martians):
            continue
        out.append(addr)
    return out


# ---- frames -----------------------------------------------------------------

def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def l2(vlan, ethertype):
    hdr = mac(ROUTER_MAC) + mac(PEER_MAC)
    if vlan is not None:
        hdr += struct.pack("!HH", 0x8100, vlan)
    return hdr + struct.pack("!H", ethertype)


def frame4(src, dst, sport, vlan=None, size=60):
    """An Ethernet/IPv4/UDP frame of `size` bytes without FCS (60 = 64 on the wire)."""
    eth = l2(vlan, 0x0800)
    payload_len = size - len(eth) - 20 - 8
    payload = bytes(max(payload_len, 0))
    udp_len = 8 + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0x4000, 64, 17, 0,
                     src.packed, dst.packed)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, 17, udp_len)
    udp = struct.pack("!HHHH", sport, 9, udp_len, 0) + payload
    c = csum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    return eth + ip + udp


def frame6(src, dst, sport, vlan=None):
    """The smallest Ethernet/IPv6/UDP frame: 62 bytes without FCS."""
    eth = l2(vlan, 0x86DD)
    udp_len = 8
    ip = struct.pack("!IHBB16s16s", 6 << 28, udp_len, 17, 64, src.packed, dst.packed)
    pseudo = src.packed + dst.packed + struct.pack("!II", udp_len, 17)
    udp = struct.pack("!HHHH", sport, 9, udp_len, 0)
    c = csum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", c)
    return eth + ip + udp


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", i // 1000000, i % 1000000, len(fr), len(fr)))
            f.write(fr)


# ---- configs ------------------------------------------------------------------

def toml_str(s):
    return json.dumps(s)  # a JSON string is a valid TOML basic string


def memif_device(index, socket):
    """A memif port connecting, as client, to the latency probe's socket (a file)."""
    return f"net_memif{index},role=client,socket={socket},socket-abstract=no"


def dataplane_toml(args, work, pcaps, workers=1, devices=None):
    """[dataplane], [api], [metrics] and the ports. `pcaps`: one list of capture files
    per ingress port (several files = several RX queues); port i is in{i}, followed by
    as many net_null egress ports out{i}. Ingress ports come first, so out{i} is DPDK
    port len(pcaps) + i."""
    # perf/fwd/bench.py rewrites this line per run (hugepages or not, file prefix).
    eal = ["--no-pci", f"--file-prefix={args.file_prefix}"] + list(args.eal_arg or [])
    text = (
        "[dataplane]\n"
        f"workers = {workers}\n"
        f"mbufs = {args.mbufs}\n"
        f"eal_args = [{', '.join(toml_str(a) for a in eal)}]\n\n"
        "[api]\n"
        f"socket = {toml_str(os.path.join(work, 'vnetd.sock'))}\n\n"
        "[metrics]\n"
        f"listen = {toml_str(args.metrics)}\n"
    )
    if devices:  # (ingress, egress) device strings instead of pcap in, null out
        for i, (dev_in, dev_out) in enumerate(devices):
            text += f'\n[[port]]\nname = "in{i}"\ndevice = {toml_str(dev_in)}\n'
            text += f'\n[[port]]\nname = "out{i}"\ndevice = {toml_str(dev_out)}\n'
        return text
    for i, files in enumerate(pcaps):
        rx = ",".join(f"rx_pcap={f}" for f in files)
        text += (f'\n[[port]]\nname = "in{i}"\n'
                 f"device = {toml_str(f'net_pcap{i},{rx},infinite_rx=1')}\n")
    for i in range(len(pcaps)):
        # no-rx: net_null's RX would hand vnetd (which polls every port) junk frames.
        text += f'\n[[port]]\nname = "out{i}"\ndevice = "net_null{i},no-rx=1"\n'
    return text


def vnet_toml(name, routes_file, vlan=None, port=0):
    tag = f"vlan = {vlan}\n  " if vlan is not None else ""
    return (
        f"\n[[vnet]]\nname = {toml_str(name)}\nroutes_file = {toml_str(routes_file)}\n\n"
        f'  [[vnet.interface]]\n  name = "in"\n  port = "in{port}"\n  {tag}mac = "{ROUTER_MAC}"\n'
        f'  addresses = ["{IN_ADDR4}/24", "{IN_ADDR6}/64"]\n\n'
        f'  [[vnet.interface]]\n  name = "out"\n  port = "out{port}"\n  {tag}mac = "{OUT_MAC}"\n'
        f'  addresses = ["{OUT_ADDR4}/24", "{OUT_ADDR6}/64"]\n\n'
        f'  [[vnet.neighbor]]\n  address = "{GW4}"\n  mac = "{GW_MAC}"\n\n'
        f'  [[vnet.neighbor]]\n  address = "{GW6}"\n  mac = "{GW_MAC}"\n'
    )


def firewall_rules(keep_state):
    """Scenario 2: 100 stateless rules, none matching the benchmark's UDP frames (other
    sources, protocols and ports), so every frame walks the whole set in and out and
    the default allows it. Scenario 3: the same behind a check-state, and a keep-state
    rule that admits the frames (one state per frame of the capture: each has its
    own source port)."""
    rules = []
    if keep_state:
        rules.append("add 50 check-state")
    for i in range(100):
        n = 100 + 10 * i
        kind = i % 4
        if kind == 0:
            rules.append(f"add {n} deny tcp from any to any {1000 + i}")
        elif kind == 1:
            rules.append(f"add {n} deny udp from 203.0.113.{i}/32 to any")
        elif kind == 2:
            rules.append(f"add {n} deny ip from 100.{64 + i}.0.0/16 to any")
        else:
            rules.append(f"add {n} deny udp from any to any {2000 + i}")
    if keep_state:
        rules.append("add 64000 allow udp from any to any keep-state")
    return rules


def firewall_toml(rules):
    body = "\n".join("  " + r for r in rules)
    # Room for every flow of the traffic (one state per frame of the capture, 32,768
    # of them), so scenario 3 measures stateful matching, not a full state table. The
    # table has max_states / 2 buckets of 8 ways: at 65536 a run once refused one flow
    # for a full bucket (32,767 states, firewall_states_full counting); at 131072 the
    # average bucket holds 0.25 of its 8 ways and bench.py checks the counters.
    states = "  max_states = 131072\n" if any("keep-state" in r for r in rules) else ""
    return f'\n  [vnet.firewall]\n  default = "allow"\n{states}  rules = """\n{body}\n  """\n'


def pipe_toml():
    """Scenario 5: every forwarded frame goes through pipe 1 once, on the way out (a
    rule without `out` would match in the "in" pass and again in the "out" one). The
    pipe has no `bw` (unlimited: no serialization time) and no delay, so it holds a
    frame only until the worker services the shaper at the end of its poll; its queue
    holds 4 bursts (a burst is 32 frames), so no frame is dropped for room."""
    return ('\n  [vnet.firewall]\n  default = "allow"\n  rules = """\n'
            '  add 100 pipe 1 ip from any to any out\n  """\n\n'
            '  [[vnet.pipe]]\n  id = 1\n  queue = 128\n')


def write_routes(path, nets4, nets6):
    with open(path, "w") as f:
        for n in nets4:
            f.write(f"{n} {GW4}\n")
        for n in nets6:
            f.write(f"{n} {GW6}\n")


def write_l3fwd_rules(path, nets):
    with open(path, "w") as f:
        f.write("# vnetd perf: every route to port 1 (net_null)\n")
        for n in nets:
            f.write(f"R{n} 1\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="work directory")
    ap.add_argument("--data", default=None, help="directory of the RouteViews tables")
    ap.add_argument("--frames", type=int, default=32768, help="frames per pcap")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--vnets", type=int, default=0,
                    help="scenario 4: this many vnets, one VLAN each (0 = skip)")
    ap.add_argument("--routes-per-vnet", type=int, default=100)
    ap.add_argument("--mbufs", type=int, default=65535, help="vnetd [dataplane] mbufs")
    # Not the e2e tests' port (19479): a benchmark and an e2e run may share a machine.
    ap.add_argument("--metrics", default="127.0.0.1:19689")
    ap.add_argument("--file-prefix", default="vnetd-perf")
    ap.add_argument("--eal-arg", action="append", help="extra vnetd EAL argument")
    args = ap.parse_args()

    here = os.path.dirname(os.path.abspath(__file__))
    data = args.data or os.path.normpath(os.path.join(here, "../../../shared/data"))
    os.makedirs(args.out, exist_ok=True)
    work = os.path.abspath(args.out)
    rng = random.Random(args.seed)
    meta = {"seed": args.seed, "frames": args.frames}

    v4_file = os.path.join(data, "routeviews-2014-05-13-v4.dat.gz")
    v6_file = os.path.join(data, "routeviews-2015-11-01-v6.dat.gz")
    if os.path.exists(v4_file) and os.path.exists(v6_file):
        raw4, raw6 = load_real(v4_file, 4), load_real(v6_file, 6)
        meta["table"] = f"real: {os.path.basename(v4_file)}, {os.path.basename(v6_file)}"
    else:
        raw4, raw6 = synthetic(4, 512621, rng), synthetic(6, 27693, rng)
        meta["table"] = "SYNTHETIC (RouteViews tables not found in %s): same prefix-length mix" % data
        print("gen: WARNING: " + meta["table"], file=sys.stderr)
    nets4, skip4 = clean(raw4, 4)
    nets6, skip6 = clean(raw6, 6)
    meta.update(routes4=len(nets4), routes6=len(nets6), skipped4=skip4, skipped6=skip6)

    write_l3fwd_rules(os.path.join(work, "rules_v4.cfg"), nets4)
    write_l3fwd_rules(os.path.join(work, "rules_v6.cfg"), nets6)
    write_routes(os.path.join(work, "routes.txt"), nets4, nets6)

    src4, src6 = ipaddress.ip_address(SRC4), ipaddress.ip_address(SRC6)
    dst4 = draw(nets4, args.frames, rng, 4)
    dst6 = draw(nets6, args.frames, rng, 6)
    write_pcap(os.path.join(work, "v4.pcap"),
               [frame4(src4, d, 1024 + i % 50000) for i, d in enumerate(dst4)])
    write_pcap(os.path.join(work, "v6.pcap"),
               [frame6(src6, d, 1024 + i % 50000) for i, d in enumerate(dst6)])

    for scenario, pcap in (("s1", "v4.pcap"), ("s6", "v6.pcap")):
        with open(os.path.join(work, f"vnetd-{scenario}.toml"), "w") as f:
            f.write(f"# Generated by perf/fwd/gen.py: scenario {scenario[1:]}, "
                    "one vnet, full tables.\n")
            f.write(dataplane_toml(args, work, [[os.path.join(work, pcap)]]))
            f.write(vnet_toml("bench", os.path.join(work, "routes.txt")))

    # Scenarios 2 and 3: scenario 1 with a firewall.
    for scenario, keep in (("s2", False), ("s3", True)):
        with open(os.path.join(work, f"vnetd-{scenario}.toml"), "w") as f:
            f.write(f"# Generated by perf/fwd/gen.py: scenario {scenario[1:]}, one vnet, "
                    "full tables, 100-rule firewall" + (" + keep-state" if keep else "")
                    + ".\n")
            f.write(dataplane_toml(args, work, [[os.path.join(work, "v4.pcap")]]))
            f.write(vnet_toml("bench", os.path.join(work, "routes.txt")))
            f.write(firewall_toml(firewall_rules(keep)))

    # Scenario 5: scenario 1 through a pipe at unlimited bandwidth.
    with open(os.path.join(work, "vnetd-s5.toml"), "w") as f:
        f.write("# Generated by perf/fwd/gen.py: scenario 5, one vnet, full tables, every "
                "frame through pipe 1 (no bandwidth limit).\n")
        f.write(dataplane_toml(args, work, [[os.path.join(work, "v4.pcap")]]))
        f.write(vnet_toml("bench", os.path.join(work, "routes.txt")))
        f.write(pipe_toml())

    # Latency: scenario 1 between two memif ports whose other ends are the latency
    # probe (perf/src/bin/fwd_latency.rs), which sends v4.pcap's frames paced and
    # stamped and takes them back. Port order is in0, out0 as in every scenario.
    with open(os.path.join(work, "vnetd-lat.toml"), "w") as f:
        f.write("# Generated by perf/fwd/gen.py: scenario 1 between the latency probe's "
                "two memif sockets.\n")
        f.write(dataplane_toml(args, work, [], devices=[(
            memif_device(0, os.path.join(work, "lat-in.sock")),
            memif_device(1, os.path.join(work, "lat-out.sock")))]))
        f.write(vnet_toml("bench", os.path.join(work, "routes.txt")))

    # Multi-worker: the scenario-1 frames split over two captures, which net_pcap
    # serves as two RX queues of one port (what RSS does on a NIC); one worker per queue.
    halves = []
    for q in range(2):
        name = f"v4-q{q}.pcap"
        write_pcap(os.path.join(work, name),
                   [frame4(src4, d, 1024 + i % 50000) for i, d in enumerate(dst4) if i % 2 == q])
        halves.append(os.path.join(work, name))
    for workers in (1, 2):
        with open(os.path.join(work, f"vnetd-s1q2w{workers}.toml"), "w") as f:
            f.write(f"# Generated by perf/fwd/gen.py: scenario 1 on two RX queues, "
                    f"{workers} worker(s).\n")
            f.write(dataplane_toml(args, work, [halves], workers=workers))
            f.write(vnet_toml("bench", os.path.join(work, "routes.txt")))

    if args.vnets:
        # Scenario 4: vnet i on its own VLAN of an ingress trunk and of an egress trunk,
        # its own routes_per_vnet routes taken from the real table (different for each
        # vnet), frames spread uniformly over the vnets. 802.1Q has 4094 usable VIDs, so
        # more vnets than PER_PORT take more trunks (in0/out0, in1/out1, ...), as a real
        # router with that many tenants would. One worker polls every ingress trunk.
        # IPv4 only.
        per_port = 4000
        nports = (args.vnets + per_port - 1) // per_port
        vdir = os.path.join(work, "vnets")
        os.makedirs(vdir, exist_ok=True)
        per_vnet = []
        pcaps = [[os.path.join(work, f"vnets-p{k}.pcap")] for k in range(nports)]
        with open(os.path.join(work, "vnetd-s4.toml"), "w") as f:
            f.write(f"# Generated by perf/fwd/gen.py: scenario 4, {args.vnets} vnets "
                    f"on {nports} trunk pair(s).\n")
            f.write(dataplane_toml(args, work, pcaps))
            for i in range(args.vnets):
                nets = rng.sample(nets4, args.routes_per_vnet)
                per_vnet.append(nets)
                rf = os.path.join(vdir, f"v{i}.txt")
                write_routes(rf, nets, [])
                f.write(vnet_toml(f"t{i}", rf, vlan=i % per_port + 1, port=i // per_port))
        by_port = [[] for _ in range(nports)]
        for i in range(args.frames):
            v = rng.randrange(args.vnets)
            d = draw(per_vnet[v], 1, rng, 4)[0]
            by_port[v // per_port].append(
                frame4(src4, d, 1024 + i % 50000, vlan=v % per_port + 1))
        for k in range(nports):
            write_pcap(pcaps[k][0], by_port[k])
        meta.update(vnets=args.vnets, routes_per_vnet=args.routes_per_vnet,
                    vnet_trunks=nports)

    with open(os.path.join(work, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"gen: {meta['table']}; {len(nets4)} IPv4 + {len(nets6)} IPv6 routes "
          f"(skipped v4 {skip4}, v6 {skip6}); {args.frames} frames per pcap in {work}")


if __name__ == "__main__":
    main()
