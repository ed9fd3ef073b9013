"""Which EC2 instance types exist (instance_types.txt; HEADER says from where), which the app runs on
(a family and size only together, so t2.48xlarge never reaches CloudFormation), and their CPU
architecture (aws-cdk-lib's); the tables say, with sources, what botocore and aws-cdk-lib do not."""

import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import aws_cdk
from aws_cdk import aws_ec2 as ec2

DATA_FILE = Path(__file__).with_name("instance_types.txt")
_LINES = DATA_FILE.read_text(encoding="ascii").splitlines() if DATA_FILE.exists() else []  # --write makes it
INSTANCE_TYPES = frozenset(line.strip() for line in _LINES if line.strip() and not line.startswith("#"))
HEADER = """\
# Every EC2 instance type the EC2 API accepts: the InstanceType enum of botocore's EC2 service model
# (botocore {botocore}), one type a line, less the {dropped} types that @aws/cloudformation-validate
# {validator} (bundled with aws-cdk-lib {cdk}, run by synth) reports as "not valid in any region".
# Refresh (after upgrading awscli/botocore or aws-cdk-lib):
#   .venv/bin/python -m settings.instance_types --write
"""

# Supported families aws-cdk-lib's InstanceType cannot parse (MalformedInstanceTypeIdentifier), all x86_64
# (Intel Xeon) by their specifications: https://docs.aws.amazon.com/ec2/latest/instancetypes/mo.html for
# High Memory U-1 and U7i/U7in, https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html for P6-B200 and
# P6-B300. --write stops at any other family it cannot parse; tests/unit keeps the list to exactly those.
X86_64_FAMILIES_AWS_CDK_LIB_CANNOT_PARSE = frozenset("""u-3tb1 u-6tb1 u-9tb1 u-12tb1 u-18tb1 u-24tb1
    u7i-6tb u7i-8tb u7i-12tb u7in-16tb u7in-24tb u7in-32tb p6-b200 p6-b300""".split())  # fmt: skip
# Families the app refuses, with the reason shown to the user.
UNSUPPORTED_FAMILIES = {
    # https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.aws_batch.EcsMachineImageType.html
    "a1": "AL2023, the web server's operating system, does not support A1 instances",
    # AL2023 boots HVM only and its x86 build needs x86-64-v2: these families date from the paravirtual era
    # and may run on older processors: https://docs.aws.amazon.com/linux/al2023/ug/system-requirements.html
    **dict.fromkeys(
        ("t1", "m1", "m2", "c1"),
        "a previous-generation family that AL2023 (HVM, x86-64-v2) does not support; "
        "choose a current family such as t3 or t4g",
    ),
    # IPv6 is the server's only way out. AWS supports it on current-generation types and, of the previous
    # generation, on C3, R3 and I2 only; these are the others (t1, m1, m2, c1 are refused above):
    # https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-instance-addressing.html#ipv6-addressing
    **dict.fromkeys(
        ("m3", "cc2", "cr1", "g2", "hs1"),
        "a previous-generation family without IPv6, the server's only way out; "
        "choose a current family such as t3 or t4g",
    ),
    # Every mac* family: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-mac-instances.html
    "mac": "Mac instances run macOS on Dedicated Hosts only, not AL2023 on shared tenancy",
}


def family(instance_type: str) -> str:
    return instance_type.partition(".")[0]


def unsupported_reason(instance_type: str) -> str | None:
    return UNSUPPORTED_FAMILIES.get("mac" if instance_type.startswith("mac") else family(instance_type))


def checked(instance_type: str) -> str:
    """``instance_type`` in lower case if the app runs on it, else ValueError saying why not."""
    name = instance_type.lower() if instance_type.isascii() else instance_type  # lower() maps K (Kelvin) to k
    if name not in INSTANCE_TYPES:
        sizes = [t.partition(".")[2] for t in INSTANCE_TYPES if family(t) == family(name)]
        if sizes and "." in name:
            raise ValueError(f"{family(name)} comes in {', '.join(sorted(sizes, key=_size_order))}")
        raise ValueError("must be an EC2 instance type such as t4g.micro (settings/instance_types.txt)")
    if reason := unsupported_reason(name):
        raise ValueError(f"not supported: {reason}")
    return name


def _size_order(size: str) -> tuple[int, str]:
    """nano, micro, small, medium, large, xlarge, 2xlarge, 3xlarge, ..., then the others (metal, ...)."""
    small, number = ("nano", "micro", "small", "medium", "large", "xlarge"), size.removesuffix("xlarge")
    order = small.index(size) if size in small else len(small) + int(number) if number.isdigit() else 10**6
    return order, size


def aws_cdk_lib_architecture(instance_type: str) -> ec2.InstanceArchitecture | None:
    try:
        return ec2.InstanceType(instance_type).architecture
    except RuntimeError:  # MalformedInstanceTypeIdentifier
        return None


def is_arm64(instance_type: str) -> bool:
    architecture = aws_cdk_lib_architecture(instance_type)
    if architecture is None and family(instance_type) not in X86_64_FAMILIES_AWS_CDK_LIB_CANNOT_PARSE:
        raise ValueError(f"no CPU architecture known for {instance_type!r}")
    return architecture == ec2.InstanceArchitecture.ARM_64


def families_without_architecture(types: list[str]) -> list[str]:
    """Supported families whose architecture neither aws-cdk-lib nor the table above gives."""
    examples = {family(t): t for t in sorted(types, reverse=True) if unsupported_reason(t) is None}
    unparsed = {name for name, example in examples.items() if aws_cdk_lib_architecture(example) is None}
    return sorted(unparsed - X86_64_FAMILIES_AWS_CDK_LIB_CANNOT_PARSE)


# Templates of an instance per type, 400 a template: the validator takes 500 resources at most.
_VALIDATE_JS = """
const [module, types] = [process.argv[1], JSON.parse(process.argv[2])];
const v = require(module), fs = require('fs'), engine = new v.CompositeEngine(), refused = [];
for (let start = 0; start < types.length; start += 400) {
  const Resources = Object.fromEntries(types.slice(start, start + 400).map((t, i) => [`I${i}`,
    {Type: 'AWS::EC2::Instance', Properties: {InstanceType: t, ImageId: 'ami-0123456789abcdef0'}}]));
  fs.writeFileSync(`${module}/t.json`, JSON.stringify({Resources}));
  const report = engine.validateTemplate(new v.TemplateFile(`${module}/t.json`), {detailLevel: 'STANDARD'});
  for (const d of report.diagnostics.filter(d => d.ruleId === 'E3628'))
    refused.push(/^'(.+)' is not valid in any region$/.exec(d.message)?.[1]);
}
console.log(JSON.stringify({version: v.version(), refused: refused.filter(Boolean)}));
"""


def render() -> str:
    import botocore.session  # only --write needs botocore

    types = sorted(botocore.session.get_session().get_service_model("ec2").shape_for("InstanceType").enum)
    (tarball,) = (Path(aws_cdk.__file__).parent / "_jsii").glob("aws-cdk-lib@*.jsii.tgz")
    module = "package/node_modules/@aws/cloudformation-validate"
    node = next(Path(sys.executable).parent.glob("node"), "node")  # the virtual environment's, if it has one
    with tempfile.TemporaryDirectory() as work, tarfile.open(tarball) as archive:
        archive.extractall(work, [m for m in archive if m.name.startswith(f"{module}/")], filter="data")
        run = [node, "-e", _VALIDATE_JS, f"{work}/{module}", json.dumps(types)]
        result = json.loads(subprocess.run(run, check=True, capture_output=True, text=True).stdout)
    kept = [name for name in types if name not in result["refused"]]
    if unknown := families_without_architecture(kept):
        sys.exit(
            f"no CPU architecture for {', '.join(unknown)}: aws-cdk-lib cannot parse these families; add "
            "each to X86_64_FAMILIES_AWS_CDK_LIB_CANNOT_PARSE (or refuse it) after checking its specification"
        )
    cdk = tarball.name.removeprefix("aws-cdk-lib@").removesuffix(".jsii.tgz")
    versions = {"botocore": botocore.__version__, "validator": result["version"], "cdk": cdk}
    return HEADER.format(dropped=len(types) - len(kept), **versions) + "".join(f"{name}\n" for name in kept)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m settings.instance_types --write")
    DATA_FILE.write_text(render(), encoding="ascii")
