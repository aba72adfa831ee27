"""Driver of bench/emulator.sh: see there. Prints Markdown tables."""
import json
import os
import statistics
import subprocess
import time

RUNS = int(os.environ.get("RUNS", 3))
SECS = int(os.environ.get("SECS", 4))
EMU = "nlab-bemu"
VETH = "nlab-bveth"
TCK = os.sysconf("SC_CLK_TCK")


def run(*a, check=True):
    return subprocess.run(a, capture_output=True, text=True, check=check)


def nsx(ns, *a, check=True):
    return run("ip", "netns", "exec", ns, *a, check=check)


class Emu:
    def __init__(self, seed=1):
        self.p = subprocess.Popen(
            [os.environ.get("EMU_BIN", "target/release/examples/emu_link"), EMU, str(seed)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        if not line.startswith("ready"):
            raise SystemExit(f"emulator did not start: {line!r}")
        self.pid = int(line.split()[1])

    def cmd(self, c):
        self.p.stdin.write(c + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().strip()

    def set(self, a_to_b=None, b_to_a=None):
        d = {"a_to_b": a_to_b or {}, "b_to_a": b_to_a or {}}
        assert self.cmd("set " + json.dumps(d)) == "ok"

    def stats(self):
        return json.loads(self.cmd("stats"))

    def cpu(self):
        f = open(f"/proc/{self.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / TCK

    def close(self):
        self.cmd("quit")
        self.p.wait(timeout=10)


def veth_up():
    a, b = f"{VETH}-a", f"{VETH}-b"
    for n in (a, b):
        run("ip", "netns", "add", n)
        run("ip", "-n", n, "link", "set", "lo", "up")
    run("ip", "-n", a, "link", "add", "a-eth0", "type", "veth", "peer", "name", "b-eth0", "netns", b)
    for n, i, ip in ((a, "a-eth0", "10.9.0.1/24"), (b, "b-eth0", "10.9.0.2/24")):
        run("ip", "-n", n, "addr", "add", ip, "dev", i)
        run("ip", "-n", n, "link", "set", i, "up")


def veth_down():
    for n in (f"{VETH}-a", f"{VETH}-b"):
        run("ip", "netns", "del", n, check=False)


def iperf(prefix, extra, secs=SECS):
    srv = subprocess.Popen(["ip", "netns", "exec", f"{prefix}-b", "iperf3", "-s", "-1"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    out = nsx(f"{prefix}-a", "iperf3", "-c", "10.9.0.2", "-t", str(secs), "-J", *extra,
              check=False).stdout
    srv.wait(timeout=10)
    return json.loads(out)["end"]


def tcp(prefix):
    return iperf(prefix, [])["sum_received"]["bits_per_second"] / 1e9


def rx_packets(ns, iface="b-eth0"):
    """The kernel's count of frames the interface handed to its host's
    stack: for the veth and for the emulator's receiving TAP alike."""
    return int(nsx(ns, "cat", f"/sys/class/net/{iface}/statistics/rx_packets").stdout)


def udp64_flood(prefix):
    """iperf3 `-u -l 64 -b 0`: returns (kpps the receiving iperf3 read,
    kpps the link delivered to the far interface, kpps the sender offered)."""
    before = rx_packets(f"{prefix}-b")
    e = iperf(prefix, ["-u", "-l", "64", "-b", "0"])
    delivered = rx_packets(f"{prefix}-b") - before
    s = e.get("sum_received") or e["sum"]
    secs = s["seconds"]
    return ((s["packets"] - s["lost_packets"]) / secs / 1e3, delivered / secs / 1e3,
            s["packets"] / secs / 1e3)


def udp64_rate(prefix, pps, secs=2):
    """Received fraction of 64-byte UDP offered at `pps` packets/s."""
    e = iperf(prefix, ["-u", "-l", "64", "-b", str(int(pps * 64 * 8)), "--pacing-timer", "100"],
              secs)
    s = e.get("sum_received") or e["sum"]
    sent = s["packets"]
    return (sent - s["lost_packets"]) / max(sent, 1), sent / s["seconds"] / 1e3


def udp64_no_loss(prefix):
    """RFC 2544-style throughput: the highest offered 64-byte UDP rate
    (kpps) that arrives with at most 0.1 % loss, by bisection. Unlike the
    flood above it does not measure how an overloaded 2-core machine shares
    its CPUs between a sender, a receiver and (for the emulator) a
    forwarder, only what the path carries."""
    lo, hi = 0.0, 400e3
    for _ in range(7):
        mid = (lo + hi) / 2
        got, _ = udp64_rate(prefix, mid)
        if got >= 0.999:
            lo = mid
        else:
            hi = mid
    return lo / 1e3


def measure(emu, fn):
    c0 = emu.cpu()
    t0 = time.monotonic()
    v = fn(EMU)
    return v, emu.cpu() - c0, time.monotonic() - t0


def med(xs):
    return statistics.median(xs)


def avg_rtt(ns, count, interval):
    out = nsx(ns, "ping", "-n", "-q", "-c", str(count), "-i", str(interval), "10.9.0.2").stdout
    line = [l for l in out.splitlines() if "min/avg/max" in l][0]
    return float(line.split("=")[1].split("/")[1])


def throughput(emu):
    # Each test gives one or more figures per run (the flood gives three
    # from one iperf3 run); rows are (name, unit) per figure.
    tests = (
        (lambda p: (tcp(p),), (("TCP goodput", "Gbit/s"),)),
        (udp64_flood, (("64-byte UDP flood, received by iperf3", "kpps"),
                       ("64-byte UDP flood, delivered to the far interface", "kpps"),
                       ("64-byte UDP flood, offered by the sender", "kpps"))),
        (lambda p: (udp64_no_loss(p),),
         (("64-byte UDP, highest rate with <= 0.1% loss", "kpps"),)),
    )
    print("\n| test | veth | emulator | emulator/veth | emulator CPU s per run (wall s) |")
    print("| --- | --- | --- | --- | --- |")
    for fn, names in tests:
        v, e, cpu, wall = [], [], [], []
        for _ in range(RUNS):
            v.append(fn(VETH))
            x, c, w = measure(emu, fn)
            e.append(x)
            cpu.append(c)
            wall.append(w)
        for i, (name, unit) in enumerate(names):
            mv, me = med([r[i] for r in v]), med([r[i] for r in e])
            print(f"| {name} | {mv:.2f} {unit} | {me:.2f} {unit} | {me / mv:.0%} "
                  f"| {med(cpu):.2f} ({med(wall):.1f}) |")
    print(f"(medians of {RUNS} runs of {SECS} s; veth and emulator runs alternate)")


def delay_accuracy(emu):
    emu.set()
    base = avg_rtt(f"{EMU}-a", 50, 0.02)
    print(f"\nbase RTT through the emulator: {base:.3f} ms")
    print("\n| one-way delay (both ways) | RTT − base | expected | error | target (5% or 0.2 ms) |")
    print("| --- | --- | --- | --- | --- |")
    for ms in (1, 10, 100, 500):
        ns = ms * 1_000_000
        emu.set({"delay": ns}, {"delay": ns})
        count, interval = (20, 0.05) if ms < 500 else (8, 0.2)
        got = avg_rtt(f"{EMU}-a", count, interval) - base
        want = 2 * ms
        err = got - want
        ok = abs(err) <= max(0.05 * want, 0.2)
        print(f"| {ms} ms | {got:.3f} ms | {want} ms | {err:+.3f} ms | {'yes' if ok else 'NO'} |")
    emu.set()


def loss_accuracy(emu):
    print("\n| loss (one way) | packets | lost | 99% interval | inside |")
    print("| --- | --- | --- | --- | --- |")
    n = 10_000
    for pct in (1, 10):
        emu.set({"loss": {"model": "random", "percent": pct}})
        out = nsx(f"{EMU}-a", "ping", "-n", "-q", "-f", "-c", str(n), "10.9.0.2",
                  check=False).stdout
        line = [l for l in out.splitlines() if "transmitted" in l][0]
        sent = int(line.split()[0])
        got = int(line.split(",")[1].split()[0])
        lost = sent - got
        p = pct / 100
        sd = (sent * p * (1 - p)) ** 0.5
        lo, hi = sent * p - 2.576 * sd, sent * p + 2.576 * sd
        inside = lo <= lost <= hi
        print(f"| {pct}% | {sent} | {lost} | [{lo:.0f}, {hi:.0f}] | {'yes' if inside else 'NO'} |")
    emu.set()


def rate_accuracy(emu):
    print("\n| rate (both ways) | TCP goodput | error |")
    print("| --- | --- | --- |")
    for mbit in (1, 10, 100, 1000):
        r = {"rate": {"bits_per_sec": mbit * 1_000_000}}
        emu.set(r, r)
        got = tcp(EMU) * 1000
        print(f"| {mbit} Mbit/s | {got:.2f} Mbit/s | {(got - mbit) / mbit:+.1%} |")
    emu.set()


def main():
    veth_up()
    emu = Emu()
    try:
        nsx(f"{EMU}-a", "ping", "-c", "1", "-W", "2", "10.9.0.2")
        nsx(f"{VETH}-a", "ping", "-c", "1", "-W", "2", "10.9.0.2")
        only = os.environ.get("ONLY", "throughput,delay,loss,rate").split(",")
        if "throughput" in only:
            throughput(emu)
        if "delay" in only:
            delay_accuracy(emu)
        if "loss" in only:
            loss_accuracy(emu)
        if "rate" in only:
            rate_accuracy(emu)
        print("\nemulator counters at the end:", json.dumps(emu.stats()))
    finally:
        emu.close()
        veth_down()


main()
