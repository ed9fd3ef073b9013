"""Which EC2 instance types exist, and what the app needs to know about each one.

The list of real types is instance_types.txt next to this file: the ``InstanceType`` enum of
botocore's EC2 service model, which is the list the EC2 API itself accepts, less the types
that the CloudFormation validator bundled with the pinned aws-cdk-lib rejects in every region
(synth runs that validator, so such a type could only fail there). Refresh it after upgrading
awscli/botocore or aws-cdk-lib with:

    .venv/bin/python -m stacks.instance_types --write

Only families and sizes that occur together in that list are accepted, so impossible pairs
such as t2.48xlarge or p5.nano never reach CloudFormation. What botocore does not say
(CPU architecture, operating system support) follows from AWS's documented naming convention
and the documented facts below, each with its source.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DATA_FILE = Path(__file__).with_name("instance_types.txt")
_HEADER = """\
# Every EC2 instance type the EC2 API accepts: the InstanceType enum of botocore's EC2
# service model (botocore {botocore}), one type a line, less the {dropped} types that
# @aws/cloudformation-validate {validator} (bundled with aws-cdk-lib {cdk}, run by synth)
# reports as "not valid in any region".
# Refresh (after upgrading awscli/botocore or aws-cdk-lib):
#   .venv/bin/python -m stacks.instance_types --write
"""


def _load(path: Path = DATA_FILE) -> frozenset[str]:
    lines = path.read_text(encoding="ascii").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


# (Empty only while --write creates the file for the first time.)
INSTANCE_TYPES: frozenset[str] = _load() if DATA_FILE.exists() else frozenset()

# Naming convention: series letters, generation digits, then option letters, then an optional
# variant after a dash (c7gn, m7i-flex, u7i-12tb, mac2-m2pro, p6e-gb200).
# https://docs.aws.amazon.com/ec2/latest/instancetypes/instance-type-names.html
# Option "g" = AWS Graviton processor.
_FAMILY = re.compile(r"^(?P<series>[a-z]+)(?P<generation>\d*)(?P<options>[a-z]*)(?P<variant>-.*)?$")

# Arm64 families whose name carries no "g": the first-generation Graviton A1, and the
# NVIDIA Grace Blackwell P6e-GB200 (Grace is an Arm CPU).
# https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html
_ARM64_WITHOUT_G = frozenset({"a1", "p6e-gb200"})

# Families the app refuses, with the reason shown to the user.
UNSUPPORTED_FAMILIES = {
    # "Amazon Linux 2023 does not support A1 instances."
    # https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.aws_batch.EcsMachineImageType.html
    "a1": "AL2023, the web server's operating system, does not support A1 instances",
    # AL2023 boots HVM only and its x86 build needs x86-64-v2; these first-generation
    # families date from the paravirtual era and may run on older processors.
    # https://docs.aws.amazon.com/linux/al2023/ug/system-requirements.html
    **dict.fromkeys(
        ("t1", "m1", "m2", "c1"),
        "a previous-generation family that AL2023 (HVM, x86-64-v2) does not support; "
        "choose a current family such as t3 or t4g",
    ),
}
# Mac instances run macOS only, on Dedicated Hosts.
# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-mac-instances.html
_MAC_REASON = "Mac instances run macOS on Dedicated Hosts only, not AL2023 on shared tenancy"


def family(instance_type: str) -> str:
    return instance_type.partition(".")[0]


def _parts(instance_type: str) -> re.Match[str]:
    match = _FAMILY.match(family(instance_type))
    if match is None:  # every family in the data file matches; tests prove it
        raise ValueError(f"not an instance family: {instance_type!r}")
    return match


def unsupported_reason(instance_type: str) -> str | None:
    """Why the app cannot run on ``instance_type``, or None if it can."""
    name = family(instance_type)
    if name.startswith("mac"):
        return _MAC_REASON
    return UNSUPPORTED_FAMILIES.get(name)


def is_arm64(instance_type: str) -> bool:
    name = family(instance_type)
    return name in _ARM64_WITHOUT_G or "g" in _parts(instance_type)["options"]


def _botocore_instance_types() -> tuple[str, list[str]]:
    import botocore
    import botocore.session

    model = botocore.session.get_session().get_service_model("ec2")
    return botocore.__version__, sorted(model.shape_for("InstanceType").enum)


# Runs the validator on templates of one instance per type; prints the types it refuses.
_VALIDATE_JS = """
const [moduleDir, ...files] = process.argv.slice(1);
const v = require(moduleDir);
const engine = new v.CompositeEngine();
const refused = [];
for (const file of files) {
  const report = engine.validateTemplate(new v.TemplateFile(file), {detailLevel: 'STANDARD'});
  for (const d of report.diagnostics) {
    const m = /^'(.+)' is not valid in any region$/.exec(d.message);
    if (d.ruleId === 'E3628' && m) refused.push(m[1]);
  }
}
console.log(JSON.stringify({version: v.version(), refused}));
"""


def _refused_by_cloudformation_validate(types: list[str]) -> tuple[str, str, set[str]]:
    import json
    import shutil
    import subprocess
    import tarfile
    import tempfile
    from importlib.util import find_spec

    # The package's files, without importing it (which would start a jsii kernel).
    spec = find_spec("aws_cdk")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("aws-cdk-lib not found: run this with the project's virtual environment")
    jsii_dir = Path(next(iter(spec.submodule_search_locations))) / "_jsii"
    (tarball,) = jsii_dir.glob("aws-cdk-lib@*.jsii.tgz")
    cdk_version = tarball.name.removeprefix("aws-cdk-lib@").removesuffix(".jsii.tgz")
    module = "package/node_modules/@aws/cloudformation-validate"
    node = shutil.which("node", path=str(Path(sys.executable).parent)) or shutil.which("node")
    if node is None:
        sys.exit("node not found: run this with the project's virtual environment")
    with tempfile.TemporaryDirectory() as work:
        with tarfile.open(tarball) as archive:
            members = [m for m in archive.getmembers() if m.name.startswith(module + "/")]
            archive.extractall(work, members=members, filter="data")
        files = []
        for start in range(0, len(types), 400):  # the validator takes 500 resources at most
            resources = {
                f"I{i}": {
                    "Type": "AWS::EC2::Instance",
                    "Properties": {"InstanceType": name, "ImageId": "ami-0123456789abcdef0"},
                }
                for i, name in enumerate(types[start : start + 400])
            }
            path = Path(work) / f"t{start}.json"
            path.write_text(json.dumps({"Resources": resources}))
            files.append(str(path))
        out = subprocess.run(
            [node, "-e", _VALIDATE_JS, str(Path(work) / module), *files],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    result = json.loads(out)
    return result["version"], cdk_version, set(result["refused"])


def render() -> str:
    botocore_version, types = _botocore_instance_types()
    validator, cdk, refused = _refused_by_cloudformation_validate(types)
    kept = [name for name in types if name not in refused]
    header = _HEADER.format(
        botocore=botocore_version, dropped=len(types) - len(kept), validator=validator, cdk=cdk
    )
    return header + "".join(f"{name}\n" for name in kept)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m stacks.instance_types --write")
    DATA_FILE.write_text(render(), encoding="ascii")
    print(f"wrote {DATA_FILE}", file=sys.stderr)
