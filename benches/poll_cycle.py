#!/usr/bin/env python3
"""One full polling cycle over thousands of feeds served by nginx on 127.0.0.1, cold (every feed
new) and warm (nothing changed: all 304), for gleaner, newsboat and curl side by side.

    python3 benches/poll_cycle.py                 # 1,000 and 10,000 sources
    python3 benches/poll_cycle.py --sizes 1000    # just one size
    python3 benches/poll_cycle.py --newsboat-max 10000   # newsboat at 10,000 too (over 7 min cold)

Needs nginx (Debian nginx-light: it sends ETag and Last-Modified), newsboat 2.21 (Debian) and
curl; builds gleaner in release first. Prints wall time and peak memory (max RSS) of each run.
"""

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDS = ("the government said on thursday that forces are gathering near border officials expect "
         "a new offensive in spring markets rose after report analysts warned of risk city council "
         "voted to expand budget for schools and roads").split()


def feed_xml(n, rng):
    items = []
    for i in range(20):
        paragraphs = "".join(
            "<p>" + " ".join(rng.choice(WORDS) for _ in range(40)) + f" (feed {n}, item {i}, {p}).</p>"
            for p in range(3))
        items.append(
            f"<item><title>Story {i} of feed {n}</title>"
            f"<link>https://feed{n}.example.org/story/{i}</link>"
            f"<guid isPermaLink=\"false\">feed{n}-{i}</guid>"
            f"<pubDate>Fri, 03 Feb 2023 {i:02d}:00:00 +0000</pubDate>"
            f"<description><![CDATA[{paragraphs}]]></description></item>")
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel>"
            f"<title>Feed {n}</title><link>https://feed{n}.example.org/</link>"
            f"<description>Generated</description>{''.join(items)}</channel></rss>\n")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(cmd, **kwargs):
    """Runs cmd; returns (seconds, peak RSS in MiB, exit status)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
    _, status, usage = os.wait4(proc.pid, 0)
    return time.monotonic() - start, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def write_feeds(folder, size):
    """Writes feed0.xml .. feed{size-1}.xml into folder (the same feeds for the same size)."""
    os.makedirs(folder)
    rng = random.Random(size)
    for n in range(size):
        with open(os.path.join(folder, f"feed{n}.xml"), "w") as f:
            f.write(feed_xml(n, rng))


def start_nginx(work, port, addresses=("127.0.0.1",)):
    """nginx serving work/feeds on port of each loopback address, in the foreground."""
    listen = "".join(f"listen {address}:{port}; " for address in addresses)
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""daemon off;
worker_processes 2;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    keepalive_requests 1000000;
    types {{ application/rss+xml xml; }}
    server {{ {listen}root {work}/feeds; }}
}}
""")
    proc = subprocess.Popen(["nginx", "-c", conf, "-p", work], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            for address in addresses:
                socket.create_connection((address, port), timeout=0.1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("nginx did not start: see " + os.path.join(work, "nginx-error.log"))


def run_size(size, gleaner, with_newsboat):
    work = tempfile.mkdtemp(prefix=f"gleaner-bench-{size}-")
    os.chmod(work, 0o755)
    write_feeds(os.path.join(work, "feeds"), size)
    port = free_port()
    nginx = start_nginx(work, port)
    urls = [f"http://127.0.0.1:{port}/feed{n}.xml" for n in range(size)]
    results = {}
    try:
        # gleaner: all feeds are on one host here, so the per-host limits are opened up.
        config = os.path.join(work, "gleaner.toml")
        with open(config, "w") as f:
            f.write("database = \"gleaner.db\"\nconcurrency = 16\nper_host = 16\nhost_delay = \"0s\"\n")
            for url in urls:
                f.write(f"[[sources]]\nurl = \"{url}\"\n")
        results["gleaner"] = (
            measure([gleaner, "--config", config, "once"]),
            measure([gleaner, "--config", config, "once", "--force"]),
        )
        # curl: the transfer limit (it sends no validators: both passes fetch everything).
        curl_cfg = os.path.join(work, "curl.cfg")
        with open(curl_cfg, "w") as f:
            for url in urls:
                f.write(f"url = \"{url}\"\noutput = \"/dev/null\"\n")
        curl = ["curl", "--parallel", "--parallel-max", "16", "-s", "-K", curl_cfg]
        results["curl"] = (measure(curl), measure(curl))
        if with_newsboat:
            nb_urls = os.path.join(work, "newsboat-urls")
            with open(nb_urls, "w") as f:
                f.write("\n".join(urls) + "\n")
            nb_conf = os.path.join(work, "newsboat-config")
            with open(nb_conf, "w") as f:
                f.write("reload-threads 16\n")
            nb = ["newsboat", "-x", "reload", "-u", nb_urls, "-c", os.path.join(work, "newsboat.db"),
                  "-C", nb_conf]
            env = dict(os.environ, HOME=work)
            results["newsboat"] = (measure(nb, env=env), measure(nb, env=env))
    finally:
        nginx.send_signal(signal.SIGQUIT)
        nginx.wait(timeout=10)
    shutil.rmtree(work, ignore_errors=True)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--newsboat-max", type=int, default=1000,
                        help="largest size at which newsboat also runs (it is slow)")
    args = parser.parse_args()
    for tool in ("nginx", "curl"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed (Debian: apt-get install nginx-light curl)")
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    gleaner = os.path.join(ROOT, "target", "release", "gleaner")
    print(f"{'sources':>8} {'tool':<9} {'cold s':>8} {'cold MiB':>9} {'warm s':>8} {'warm MiB':>9}")
    for size in [int(s) for s in args.sizes.split(",")]:
        with_newsboat = size <= args.newsboat_max and shutil.which("newsboat") is not None
        results = run_size(size, gleaner, with_newsboat)
        for tool, ((cs, cm, cx), (ws, wm, wx)) in results.items():
            flag = "" if cx == 0 and wx == 0 else f"  (exit {cx}/{wx})"
            print(f"{size:>8} {tool:<9} {cs:>8.2f} {cm:>9.0f} {ws:>8.2f} {wm:>9.0f}{flag}")
        g = results["gleaner"]
        if "newsboat" in results:
            n = results["newsboat"]
            print(f"{'':>8} newsboat/gleaner: cold {n[0][0] / g[0][0]:.1f}x, warm {n[1][0] / g[1][0]:.1f}x")
        c = results["curl"]
        print(f"{'':>8} gleaner/curl: cold {g[0][0] / c[0][0]:.1f}x, warm {g[1][0] / c[1][0]:.1f}x")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
