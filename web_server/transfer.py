"""Where make publish, make restore and the server meet in the run-output bucket (no CDK here: the
operator tool and the integration tests import it too)."""

# make publish uploads a folder's manifest and files under this prefix, one folder per release;
# the objects expire after a day.
TRANSFER_PREFIX = "site-transfer/"
# The SSM agent writes each release command's output here (make publish reads the inventory).
COMMAND_OUTPUT_PREFIX = "site-commands/"
