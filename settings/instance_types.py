"""Which EC2 instance types exist, and what the app needs to know about each one.

The list of real types is instance_types.txt next to this file: the ``InstanceType`` enum of
botocore's EC2 service model, which is the list the EC2 API itself accepts, less the types
that the CloudFormation validator bundled with the pinned aws-cdk-lib rejects in every region
(synth runs that validator, so such a type could only fail there). Refresh it after upgrading
awscli/botocore or aws-cdk-lib with:

    .venv/bin/python -m settings.instance_types --write

Only families and sizes that occur together in that list are accepted, so impossible pairs
such as t2.48xlarge or p5.nano never reach CloudFormation. The CPU architecture comes from
aws-cdk-lib; what neither botocore nor aws-cdk-lib says (the architecture of the few families
aws-cdk-lib cannot parse, operating system support) is in the short tables below, each with
its source.
"""

from __future__ import annotations

import sys
from pathlib import Path

from aws_cdk import aws_ec2 as ec2

DATA_FILE = Path(__file__).with_name("instance_types.txt")
_HEADER = """\
# Every EC2 instance type the EC2 API accepts: the InstanceType enum of botocore's EC2
# service model (botocore {botocore}), one type a line, less the {dropped} types that
# @aws/cloudformation-validate {validator} (bundled with aws-cdk-lib {cdk}, run by synth)
# reports as "not valid in any region".
# Refresh (after upgrading awscli/botocore or aws-cdk-lib):
#   .venv/bin/python -m settings.instance_types --write
"""


def _load(path: Path = DATA_FILE) -> frozenset[str]:
    lines = path.read_text(encoding="ascii").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


# (Empty only while --write creates the file for the first time.)
INSTANCE_TYPES: frozenset[str] = _load() if DATA_FILE.exists() else frozenset()

# The CPU architecture comes from aws-cdk-lib's InstanceType, which knows it for every family
# whose name it can parse. These are the supported families it cannot parse (it raises
# MalformedInstanceTypeIdentifier), all x86_64 by their specifications: High Memory U-1 and
# U7i/U7in (Intel Xeon), https://docs.aws.amazon.com/ec2/latest/instancetypes/mo.html, and
# P6-B200/P6-B300 (Intel Xeon), https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html.
# `python -m settings.instance_types --write` stops and names any supported family that is
# neither parsed by aws-cdk-lib nor listed here; tests/unit keeps the list to exactly those.
X86_64_FAMILIES_AWS_CDK_LIB_CANNOT_PARSE = frozenset(
    """
    u-3tb1 u-6tb1 u-9tb1 u-12tb1 u-18tb1 u-24tb1
    u7i-6tb u7i-8tb u7i-12tb u7in-16tb u7in-24tb u7in-32tb
    p6-b200 p6-b300
    """.split()
)

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


def unsupported_reason(instance_type: str) -> str | None:
    """Why the app cannot run on ``instance_type``, or None if it can."""
    name = family(instance_type)
    if name.startswith("mac"):
        return _MAC_REASON
    return UNSUPPORTED_FAMILIES.get(name)


def _size_order(size: str) -> tuple[int, str]:
    small = ("nano", "micro", "small", "medium", "large", "xlarge")
    if size in small:
        return small.index(size), size
    number = size.removesuffix("xlarge")
    return (len(small) + int(number), size) if number.isdigit() else (10**6, size)


def refusal(instance_type: str) -> str | None:
    """Why the app refuses ``instance_type`` (lower case), or None if it takes it."""
    if instance_type not in INSTANCE_TYPES:
        name = family(instance_type)
        sizes = sorted((t.partition(".")[2] for t in INSTANCE_TYPES if family(t) == name), key=_size_order)
        if sizes and "." in instance_type:
            return f"{name} comes in {', '.join(sizes)}"
        return "must be an EC2 instance type such as t4g.micro or t3.small (settings/instance_types.txt)"
    reason = unsupported_reason(instance_type)
    return f"not supported: {reason}" if reason else None


def aws_cdk_lib_architecture(instance_type: str) -> ec2.InstanceArchitecture | None:
    """The CPU architecture aws-cdk-lib gives ``instance_type``, or None if it cannot parse it."""
    try:
        return ec2.InstanceType(instance_type).architecture
    except RuntimeError:  # MalformedInstanceTypeIdentifier
        return None


def is_arm64(instance_type: str) -> bool:
    architecture = aws_cdk_lib_architecture(instance_type)
    if architecture is None:
        if family(instance_type) not in X86_64_FAMILIES_AWS_CDK_LIB_CANNOT_PARSE:
            raise ValueError(f"no CPU architecture known for {instance_type!r}")
        return False
    return architecture == ec2.InstanceArchitecture.ARM_64


def families_without_architecture(types: list[str]) -> list[str]:
    """Supported families whose architecture neither aws-cdk-lib nor the list above gives."""
    first_of_family = {family(name): name for name in sorted(types, reverse=True)}
    return sorted(
        name
        for name, example in first_of_family.items()
        if unsupported_reason(example) is None
        and name not in X86_64_FAMILIES_AWS_CDK_LIB_CANNOT_PARSE
        and aws_cdk_lib_architecture(example) is None
    )


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
    unknown = families_without_architecture(types)
    if unknown:
        sys.exit(
            f"no CPU architecture for {', '.join(unknown)}: aws-cdk-lib cannot parse these "
            "families; add each to X86_64_FAMILIES_AWS_CDK_LIB_CANNOT_PARSE (or refuse it) "
            "after checking its specification"
        )
    validator, cdk, refused = _refused_by_cloudformation_validate(types)
    kept = [name for name in types if name not in refused]
    header = _HEADER.format(
        botocore=botocore_version, dropped=len(types) - len(kept), validator=validator, cdk=cdk
    )
    return header + "".join(f"{name}\n" for name in kept)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m settings.instance_types --write")
    DATA_FILE.write_text(render(), encoding="ascii")
    print(f"wrote {DATA_FILE}", file=sys.stderr)
