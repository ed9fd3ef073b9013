#!/usr/bin/env python3
"""Benchmarks: synth and unit-test speed against the CDK floor, boot-script speed, template sizes.

Run with `make bench`. Prints a Markdown table; nothing here is a test, nothing asserts.
Progress goes to stderr, one line per measure and run (docs/benchmarks.md says how long it
takes). Everything it and its commands write goes to one temporary directory, removed at the
end, on Ctrl-C and on SIGTERM alike.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
ENV = {
    **os.environ,
    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    "CDK_DISABLE_VERSION_CHECK": "1",
    "CDK_DISABLE_CLI_TELEMETRY": "1",
}
EMPTY_APP = """\
import aws_cdk as cdk

app = cdk.App()
cdk.Stack(app, "Empty")
app.synth()
"""


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def timed(command: list[str], cwd: Path) -> float:
    """Seconds ``command`` takes. It runs in a session of its own, so that an interrupt ends it
    and everything it started (node, the app, jsii) before the work directory is removed."""
    start = time.perf_counter()
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            output, _ = process.communicate(timeout=600)
        except BaseException:  # Ctrl-C, SIGTERM (made an exception below) or the timeout
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
    elapsed = time.perf_counter() - start
    if process.returncode != 0:
        # A failing command's time means nothing: stop and show why.
        sys.exit(f"benchmark command failed: {' '.join(command)}\n{output[-3000:]}")
    return elapsed


def cdk_synth(app_command: str | None, outdir: Path) -> list[str]:
    command = ["npx", "cdk", "synth", "--quiet", "-o", str(outdir)]
    return [*command, "--app", app_command] if app_command else command


def synth_and_tests(work: Path) -> dict[str, list[float]]:
    """Full app and empty app through the same CLI and Node, alternating; then the unit suite."""
    empty_dir = work / "empty"
    empty_dir.mkdir()
    (empty_dir / "app.py").write_text(EMPTY_APP)
    full = cdk_synth(None, work / "full.out")
    empty = cdk_synth(f"{sys.executable} {empty_dir / 'app.py'}", work / "empty.out")
    times: dict[str, list[float]] = {"full": [], "empty": [], "unit": []}
    progress("cdk synth, full and empty app: warming up (one untimed run of each)")
    timed(full, ROOT)  # warm the file cache and Python bytecode once, untimed
    timed(empty, ROOT)
    for run in range(1, RUNS + 1):
        times["full"].append(timed(full, ROOT))
        times["empty"].append(timed(empty, ROOT))
        progress(
            f"cdk synth run {run}/{RUNS}: full {times['full'][-1]:.1f} s, empty {times['empty'][-1]:.1f} s"
        )
    # As make test runs it: two workers, a file each at a time.
    unit = [
        sys.executable,
        "-m",
        "pytest",
        "tests/unit",
        "-q",
        "-p",
        "no:cacheprovider",
        "-n",
        "2",
        "--dist",
        "loadfile",
    ]
    unit_runs = max(3, RUNS // 2)
    for run in range(1, unit_runs + 1):
        times["unit"].append(timed(unit, ROOT))
        progress(f"unit suite run {run}/{unit_runs}: {times['unit'][-1]:.1f} s")
    return times


def template_sizes(outdir: Path) -> list[tuple[str, int, int]]:
    rows = []
    for template in sorted(outdir.glob("*.template.json")):
        body = json.loads(template.read_text())
        rows.append(
            (template.name.removesuffix(".template.json"), template.stat().st_size, len(body["Resources"]))
        )
    return rows


def boot_times() -> tuple[list[float], list[float]] | None:
    """Boot scripts to a mounted document root on a loop device: first boot and re-run.

    Uses the integration tests' harness (real systemd in a container, a loop device, shims for
    dnf/aws, so package installs and AWS calls cost nothing here).
    """
    if os.geteuid() != 0:
        return None
    from tests.integration import bootharness  # the same harness the integration tests use

    first, rerun = [], []
    for run in range(1, RUNS + 1):
        with contextlib.ExitStack() as stack:
            harness = bootharness.Harness(stack)
            _, namespace = harness.instance(harness.volume())
            for bucket in (first, rerun):
                result = namespace.boot()
                if result.returncode != 0:
                    raise RuntimeError(f"boot failed during the benchmark:\n{result.output}")
                bucket.append(result.elapsed)
        progress(f"boot scripts run {run}/{RUNS}: blank volume {first[-1]:.2f} s, re-run {rerun[-1]:.2f} s")
    return first, rerun


def apply_times(assembly: Path) -> tuple[list[float], list[float]] | None:
    """The configuration document as the SSM agent runs it: blank volume to a served page,
    then a re-apply.

    The first figure runs from the start of the document's script to the first page Apache
    serves (the boot files fetched and installed, the volume attached, partitioned,
    formatted, mounted, the page seeded, httpd started); the second is a re-apply when
    nothing changed.
    """
    if os.geteuid() != 0 or shutil.which("apache2", path="/usr/sbin:/usr/bin") is None:
        return None
    import urllib.request

    from tests.integration import bootharness

    templates = {
        p.name.removesuffix(".template.json"): json.loads(p.read_text())
        for p in assembly.glob("*.template.json")
    }
    configuration = bootharness.configuration_of(templates, "SiteWebServer-dev")

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    served, reapplied = [], []
    for run in range(1, RUNS + 1):
        with contextlib.ExitStack() as stack:
            harness = bootharness.Harness(stack, configuration=configuration)
            sandbox = harness.sandbox(installed=False)
            sandbox.link_device(harness.volume())
            namespace = harness.namespace(sandbox)
            start = time.perf_counter()
            result = namespace.apply(sandbox.staging())
            if result.returncode != 0:
                raise RuntimeError(f"apply failed during the benchmark:\n{result.output}")
            url = bootharness.serve(sandbox, namespace)
            with opener.open(url, timeout=10) as response:
                if response.status != 200:
                    raise RuntimeError(f"the page answered {response.status}")
            served.append(time.perf_counter() - start)
            again = namespace.apply(sandbox.staging())
            if again.returncode != 0:
                raise RuntimeError(f"re-apply failed during the benchmark:\n{again.output}")
            reapplied.append(again.elapsed)
        progress(f"apply.sh run {run}/{RUNS}: served {served[-1]:.2f} s, re-apply {reapplied[-1]:.2f} s")
    return served, reapplied


def user_data_bytes(outdir: Path) -> int:
    """The web server's user data as EC2 receives it (before base64)."""
    template = json.loads(next(outdir.glob("SiteWebServer-*.template.json")).read_text())
    (launch_template,) = (
        r for r in template["Resources"].values() if r["Type"] == "AWS::EC2::LaunchTemplate"
    )
    return len(launch_template["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"].encode())


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> int:
    if shutil.which("npx", path=ENV["PATH"]) is None:
        print("npx not found: run `make synth` first", file=sys.stderr)
        return 1
    # SIGTERM and SIGHUP unwind like Ctrl-C, so the work directory is removed for them too.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupted)
    # About 10 s per synth pair, 100 s per unit-suite run, a minute for the rest (2 cores).
    minutes = round(((RUNS + 1) * 10 + max(3, RUNS // 2) * 100 + 60) / 60)
    progress(
        f"about {minutes} minutes on 2 cores: cdk synth {RUNS + 1} times for each app, the unit suite "
        f"{max(3, RUNS // 2)} times, then (as root) the boot scripts and apply.sh {RUNS} times each"
    )
    try:
        with tempfile.TemporaryDirectory(prefix="site-bench-") as tmp:
            work = Path(tmp)
            # Apache in the boot-script harness serves a document root below here as its own user.
            work.chmod(0o755)
            # What the commands and the harness write themselves (jsii, pytest, the upload
            # staging) goes here too: nothing is left in the system's temporary directory.
            ENV["TMPDIR"] = tempfile.tempdir = str(work)
            times = synth_and_tests(work)
            sizes = template_sizes(work / "full.out")
            user_data = user_data_bytes(work / "full.out")
            boots = boot_times()
            applies = apply_times(work / "full.out")
    except KeyboardInterrupt:
        print("bench: interrupted; its temporary files are removed", file=sys.stderr)
        return 130
    finally:
        tempfile.tempdir = None

    full, empty, unit = (statistics.median(times[k]) for k in ("full", "empty", "unit"))
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    print(
        f"Machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{subprocess.run(['node', '--version'], env=ENV, capture_output=True, text=True).stdout.strip()}; "
        f"median of {RUNS} alternating runs\n"
    )
    print("| measure | value | goal |")
    print("|---|---|---|")
    print(f"| `cdk synth`, full app | {full:.2f} s | |")
    print(f"| `cdk synth`, empty one-stack app | {empty:.2f} s | |")
    print(f"| ratio full / empty | {full / empty:.2f} | ≤ 1.4 |")
    print(f"| unit suite (`pytest tests/unit`, two workers as `make test` runs it) | {unit:.2f} s | |")
    print(f"| ratio unit suite / empty synth | {unit / empty:.2f} | ≤ 2.5 |")
    harness_rows = (
        (boots, "the boot scripts", "root and the integration harness", [
            ("boot to mounted document root, blank volume", "≤ 1.5 s"),
            ("boot to mounted document root, re-run", "≤ 0.3 s"),
        ]),
        (applies, "the configuration document", "root, apache2 and the integration harness", [
            ("blank volume to served page (the document, then Apache)", ""),
            ("re-apply when nothing changed", "≤ 0.3 s"),
        ]),
    )  # fmt: skip
    for measured, what, needs, rows in harness_rows:
        if not measured:
            print(f"| {what} | not measured (needs {needs}) | |")
            continue
        for (label, goal), values in zip(rows, measured, strict=True):
            print(f"| {label} | {statistics.median(values):.2f} s | {goal} |")
    print(f"| user data | {user_data:,} bytes (static) | < 2,048 bytes |")
    for name, size, count in sizes:
        print(f"| `{name}` template | {size:,} bytes, {count} resources | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
