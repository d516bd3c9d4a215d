//! vnetctl: the command line over vnetd's admin API, shaped after the tools
//! operators know (ifconfig, route, netstat, arp).
mod client;
mod commands;
mod pipe;
mod render;

pub use commands::run;

pub const USAGE: &str =
    "usage: vnetctl [--socket PATH | --url URL --token-file FILE] [--json] [-v VNET] COMMAND ...

Router-wide:
  status                          ports and vnets with their counters (also: stats)
  vnet list                       the vnets
  vnet create NAME                a new, empty vnet (add interfaces with ifconfig)
  vnet destroy NAME               remove a vnet under traffic; its (port, VLAN)s become free
  reload                          re-read the config file (as SIGHUP does): all or nothing
  config dump                     the running configuration as a valid config file

Inside one vnet (-v NAME):
  ifconfig                        its interfaces
  ifconfig IF create port PORT [vlan N] [inet A/LEN]... [inet6 A/LEN]... [ether MAC]
  ifconfig IF destroy
  ifconfig IF inet|inet6 A/LEN [alias | -alias]
                                  set (replacing that family's), add or remove
                                  an address
  ifconfig IF vnet OTHER          move the interface, (port, VLAN) and
                                  addresses, to vnet OTHER (admin)
  route add PREFIX GATEWAY        a static route (PREFIX like 192.168.0.0/16)
  route change PREFIX GATEWAY     add it, or give an existing route a new gateway
  route add|change -f FILE        many routes at once, `PREFIX GATEWAY` per line
                                  (- for stdin); all or nothing
  route delete PREFIX | -f FILE
  route get ADDRESS               the next hop the dataplane would use
  route show                      the FIB (also: netstat -r)
  netstat -r | -i                 routes | counters
  arp | ndp                       the neighbor table (learned and static)
  arp add ADDRESS MAC | arp delete ADDRESS
  pipe N config [bw B] [delay D] [plr P] [queue SLOTS|SIZE] [burst B]
        [mask FIELDS...] [red|gred W/MIN/MAX/P] [buckets N] [noerror]
        [sched fifo|wf2q+|rr|prio|qfq|fq_codel] [quantum|lmax|target|interval|limit|flows N] [ecn]
                                  dummynet's syntax (ipfw(8)); replaces pipe N's
                                  whole configuration
  queue N config pipe P [weight W] [prio P] [queue ...] [mask ...] [red ...]
  pipe|queue show | pipe|queue N show | pipe|queue N delete
  ipfw add|delete|flush|zero|set|table ...   the vnet's firewall, ipfw(8) syntax
  ipfw show | ipfw -f FILE        rules with counters and states | a rules file
  capture -w FILE [-c N] [-d SECONDS] [-i IF] [-s SNAPLEN] [FILTER...]
                                  a pcap of the frames the vnet receives and
                                  sends (a forwarded one twice: in and out),
                                  for tcpdump -r; FILTER in tcpdump's language;
                                  -w - writes to stdout (| tcpdump -r -)

Options:
  --socket PATH   vnetd's admin socket (default /run/vnetd/vnetd.sock)
  --url URL       talk to vnetd's TCP API instead ([api] listen), e.g.
                  http://10.0.0.1:9470; needs a token:
  --token-file F  the bearer token, read from a file (or --token T, or
                  $VNETCTL_TOKEN); a vnet's token manages that vnet only
  --json          print the API's JSON instead of tables
  -v, --vnet NAME the vnet a per-vnet command acts on

Examples:
  vnetctl vnet create green
  vnetctl -v green ifconfig lan create port trunk0 vlan 30 inet 10.0.3.1/24
  vnetctl -v green route add 0.0.0.0/0 10.0.3.254
  vnetctl -v red netstat -r
  vnetctl -v red capture -w red.pcap -c 100 icmp
  vnetctl -v red pipe 1 config bw 10Mbit/s delay 40ms";
