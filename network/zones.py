"""Availability Zones by ID: a zone's name (us-east-1a) maps to a different zone in each account, its ID
(use1-az1) to the same one everywhere."""

# CloudFront cannot place VPC origins in these zones: the VPC origins page of the CloudFront Developer Guide,
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-vpc-origins.html
NO_VPC_ORIGIN_ZONE_IDS = ("use1-az3", "usw1-az2", "apne1-az3", "cac1-az3")
# A Region's own zone: its short code and az<n> (use1-az1, apse2-az3); Local and Wavelength Zones have
# longer IDs (usw2-lax1-az1) and no VPC origins.
ZONE_ID_FORM = r"[a-z]{2,5}[0-9]-az[0-9]{1,2}"
