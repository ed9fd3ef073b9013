"""`make bench`: synth and unit-suite speed against the CDK floor, boot-script speed, sizes, as a
Markdown table (docs/benchmarks.md); progress on stderr. What it and its commands write goes to one
temporary directory, removed at the end, on Ctrl-C and on SIGTERM alike."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
UNIT_RUNS = max(3, RUNS // 2)
ENV = {
    **os.environ,
    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    "CDK_DISABLE_VERSION_CHECK": "1",
    "CDK_DISABLE_CLI_TELEMETRY": "1",
}
EMPTY_APP = 'import aws_cdk as cdk\n\napp = cdk.App()\ncdk.Stack(app, "Empty")\napp.synth()\n'
# The code that is not tests: what a change of the app has to read and keep.
CODE = re.compile(r"^(?!tests/)(.*\.(py|sh|js|yaml|service|timer)|Makefile|scripts/.*)$")
# As make test runs the unit suite: two workers, a file each at a time.
UNIT_SUITE = [sys.executable, "-m", "pytest", "tests/unit", "-q", "-p", "no:cacheprovider", "-n", "2",
              "--dist", "loadfile"]  # fmt: skip


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def timed(command: list[str], cwd: Path) -> float:
    """Seconds ``command`` takes. It runs in a session of its own, so that an interrupt ends it
    and everything it started (node, the app, jsii) before the work directory is removed."""
    start = time.perf_counter()
    with subprocess.Popen(
        command, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    ) as process:  # fmt: skip
        try:
            output, _ = process.communicate(timeout=600)
        except BaseException:  # Ctrl-C, SIGTERM (made an exception below) or the timeout
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
    if process.returncode != 0:  # a failing command's time means nothing: stop and show why
        sys.exit(f"benchmark command failed: {' '.join(command)}\n{output[-3000:]}")
    return time.perf_counter() - start


def synth_and_unit_suite(work: Path) -> dict[str, list[float]]:
    """The full app and an empty app through the same CLI and Node, alternating; then the unit suite."""
    (work / "empty.py").write_text(EMPTY_APP)
    full = ["npx", "cdk", "synth", "--quiet", "-o", str(work / "full.out")]
    empty = ["npx", "cdk", "synth", "--quiet", "-o", str(work / "empty.out")]
    empty += ["--app", f"{sys.executable} {work / 'empty.py'}"]
    progress("cdk synth, full and empty app: warming up (one untimed run of each)")
    timed(full, ROOT)
    timed(empty, ROOT)
    times: dict[str, list[float]] = {"full": [], "empty": [], "unit": []}
    for run in range(1, RUNS + 1):
        times["full"].append(timed(full, ROOT))
        times["empty"].append(timed(empty, ROOT))
        progress(
            f"cdk synth run {run}/{RUNS}: full {times['full'][-1]:.1f} s, empty {times['empty'][-1]:.1f} s"
        )
    for run in range(1, UNIT_RUNS + 1):
        times["unit"].append(timed(UNIT_SUITE, ROOT))
        progress(f"unit suite run {run}/{UNIT_RUNS}: {times['unit'][-1]:.1f} s")
    return times


def harness_times(assembly: Path) -> dict[str, list[float]]:
    """The boot scripts, then the configuration document as the SSM agent runs it, on the integration
    tests' harness (dnf and aws shimmed: installs and AWS calls cost nothing). Needs root and apache2."""
    if os.geteuid() != 0 or shutil.which("apache2", path="/usr/sbin:/usr/bin") is None:
        return {}
    from tests.integration import bootharness

    templates = {p.name.split(".")[0]: json.loads(p.read_text()) for p in assembly.glob("*.template.json")}
    configuration = bootharness.configuration_of(templates, "SiteWebServer-dev")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    times: dict[str, list[float]] = {"boot": [], "reboot": [], "served": [], "reapply": []}
    for run in range(1, RUNS + 1):
        with contextlib.ExitStack() as stack:
            harness = bootharness.Harness(stack, configuration=configuration)
            _, namespace = harness.instance(harness.volume())
            for key in ("boot", "reboot"):  # a blank volume, then a re-run
                times[key].append(_succeeded(namespace.boot()).elapsed)
            sandbox = harness.sandbox(installed=False)
            sandbox.link_device(harness.volume())
            namespace = harness.namespace(sandbox)
            # From the start of the document's script to the first page Apache serves: the boot
            # files fetched and installed, the volume attached, formatted, mounted, httpd started.
            start = time.perf_counter()
            _succeeded(namespace.apply(sandbox.staging()))
            with opener.open(bootharness.serve(sandbox, namespace), timeout=10) as response:
                assert response.status == 200, response.status
            times["served"].append(time.perf_counter() - start)
            times["reapply"].append(_succeeded(namespace.apply(sandbox.staging())).elapsed)
        progress(f"harness run {run}/{RUNS}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()))
    return times


def _succeeded(result):
    if result.returncode != 0:
        raise RuntimeError(f"a boot script failed during the benchmark:\n{result.output}")
    return result


def code_lines() -> int:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    # Lines as `wc -l` counts them.
    return sum((ROOT / name).read_bytes().count(b"\n") for name in listed.stdout.split() if CODE.match(name))


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> int:
    if shutil.which("npx", path=ENV["PATH"]) is None:
        print("npx not found: run `make synth` first", file=sys.stderr)
        return 1
    # SIGTERM and SIGHUP unwind like Ctrl-C, so the work directory is removed for them too.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupted)
    # About 10 s per synth pair, 30 s per unit-suite run, 10 s per harness run (2 cores).
    minutes = round(((RUNS + 1) * 10 + UNIT_RUNS * 30 + RUNS * 10) / 60)
    progress(
        f"about {minutes} minutes on 2 cores: cdk synth {RUNS + 1} times for each app, the unit suite "
        f"{UNIT_RUNS} times, then (as root) the boot scripts and the configuration document {RUNS} times"
    )
    try:
        with tempfile.TemporaryDirectory(prefix="site-bench-") as tmp:
            work = Path(tmp)
            work.chmod(0o755)  # Apache in the harness serves a document root below here as its own user
            # What the commands write themselves (jsii, pytest, the upload staging) goes here too.
            ENV["TMPDIR"] = tempfile.tempdir = str(work)
            times = synth_and_unit_suite(work)
            times |= harness_times(work / "full.out")
            templates = sorted((work / "full.out").glob("*.template.json"))
            sizes = {p.name.split(".")[0]: (p.stat().st_size, json.loads(p.read_text())) for p in templates}
    except KeyboardInterrupt:
        print("bench: interrupted; its temporary files are removed", file=sys.stderr)
        return 130
    finally:
        tempfile.tempdir = None

    m = {key: median(values) for key, values in times.items()}
    cpu = re.search(r"model name\s*: (.*)", Path("/proc/cpuinfo").read_text())
    node = subprocess.run(["node", "--version"], env=ENV, capture_output=True, text=True).stdout.strip()
    print(f"Machine: {cpu[1] if cpu else platform.processor()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, Node {node}; median of {RUNS} alternating runs\n")  # fmt: skip
    web_server = next(template for name, (_, template) in sizes.items() if name.startswith("SiteWebServer"))
    (launch_template,) = (
        r for r in web_server["Resources"].values() if r["Type"] == "AWS::EC2::LaunchTemplate"
    )
    user_data = len(launch_template["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"].encode())
    harness = [
        ("boot to mounted document root, blank volume", "boot", "≤ 1.5 s"),
        ("boot to mounted document root, re-run", "reboot", "≤ 0.3 s"),
        ("blank volume to served page (the document, then Apache)", "served", ""),
        ("re-apply when nothing changed", "reapply", "≤ 0.3 s"),
    ]
    rows = [
        ("`cdk synth`, full app", f"{m['full']:.2f} s", ""),
        ("`cdk synth`, empty one-stack app", f"{m['empty']:.2f} s", ""),
        ("ratio full / empty", f"{m['full'] / m['empty']:.2f}", "≤ 1.7"),
        ("unit suite (`pytest tests/unit`, two workers, as `make test`)", f"{m['unit']:.2f} s", "≤ 30 s"),
        ("ratio unit suite / empty synth", f"{m['unit'] / m['empty']:.2f}", "≤ 2.5"),
        *((label, f"{m[key]:.2f} s" if key in m else "not measured (needs root and apache2)", goal)
          for label, key, goal in harness),
        ("user data", f"{user_data:,} bytes (static)", "< 2,048 bytes"),
        *((f"`{name}` template", f"{size:,} bytes, {len(template['Resources'])} resources", "")
          for name, (size, template) in sizes.items()),
        ("non-test code (CODE in benchmarks/bench.py)", f"{code_lines():,} lines", "≤ 4,500"),
    ]  # fmt: skip
    print("| measure | value | goal |\n|---|---|---|")
    for row in rows:
        print(f"| {' | '.join(row)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
