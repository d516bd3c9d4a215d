#!/usr/bin/env python3
"""Helper for fake-vnetd (harness self-test only).
validate CFG   -> prints SOCK=..; LISTEN=.. for the shell, or FILE:LINE:COL error, exit 1
metrics ADDR   -> serves /metrics from interface counters of the kernel stand-in
"""
import http.server
import shlex
import sys
import tomllib


def validate(path):
    text = open(path, "rb").read()
    cfg = tomllib.loads(text.decode())
    lines = text.decode().splitlines()
    seen = {}
    idx = 0
    for vnet in cfg.get("vnet", []):
        for itf in vnet.get("interface", []):
            key = (itf["port"], itf.get("vlan"))
            # locate this interface's "vlan = N" line (the idx-th interface block)
            n = -1
            for i, line in enumerate(lines):
                if line.strip() == "[[vnet.interface]]":
                    n += 1
                    if n == idx:
                        start = i
                        break
            idx += 1
            if key in seen:
                col = 1
                lno = start + 1
                for j in range(start, min(start + 8, len(lines))):
                    if lines[j].strip().startswith("vlan"):
                        lno, col = j + 1, lines[j].index("vlan") + 1
                        break
                print(f"{path}:{lno}:{col}: interface {vnet['name']}/{itf['name']}: (port {key[0]!r}, vlan {key[1]}) "
                      f"already used by {seen[key]}", file=sys.stderr)
                sys.exit(1)
            seen[key] = f"{vnet['name']}/{itf['name']}"
    print(f"SOCK={shlex.quote(cfg['api']['socket'])}; LISTEN={shlex.quote(cfg['metrics']['listen'])}")


def stat(dev, what):
    try:
        return int(open(f"/sys/class/net/{dev}/statistics/{what}").read())
    except OSError:
        return 0


class Metrics(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        out = ["# HELP vnetd_vnet_rx_packets_total Packets received by a vnet.",
               "# TYPE vnetd_vnet_rx_packets_total counter"]
        for t in ("red", "blue"):
            # the router's rx on lanN = tx of the root-side end fr-T-lN
            out.append(f'vnetd_vnet_rx_packets_total{{vnet="{t}"}} '
                       f'{stat(f"fr-{t}-l1", "tx_packets") + stat(f"fr-{t}-l2", "tx_packets")}')
        out += ["# HELP vnetd_port_rx_packets_total Packets received on a port.",
                "# TYPE vnetd_port_rx_packets_total counter"]
        for p, dev in (("trunk0", "vd-trunk"), ("red2", "vd-red2"), ("blue2", "vd-blue2")):
            out.append(f'vnetd_port_rx_packets_total{{port="{p}"}} {stat(dev, "rx_packets")}')
        body = ("\n".join(out) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


if __name__ == "__main__":
    if sys.argv[1] == "validate":
        validate(sys.argv[2])
    else:
        host, port = sys.argv[2].rsplit(":", 1)
        http.server.HTTPServer((host, int(port)), Metrics).serve_forever()
