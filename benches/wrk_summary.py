"""One line from a wrk --latency report: requests/s, p99 and errors (non-2xx answers and socket
errors); the requests/s also go to REPORT.rps for the ratios. With --strict, a non-2xx answer fails.
Usage: wrk_summary.py REPORT LABEL [WIDTH] [--strict]"""
import re
import sys

t = open(sys.argv[1]).read()  # the report is always the first argument
args = [a for a in sys.argv[1:] if a != "--strict"]
label, width = args[1], int(args[2]) if len(args) > 2 else 12
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
p99 = re.search(r"99%\s+([\d.]+\w+)", t).group(1)
non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", t)) else 0
sock = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", t))
print(f"{label:<{width}} {rps:10.0f} req/s   p99 {p99:>8}   errors {non2xx + sock}")
open(sys.argv[1] + ".rps", "w").write(str(rps))
if "--strict" in sys.argv and non2xx:
    sys.exit(1)
