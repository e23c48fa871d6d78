"""The CDK entry point, run by ``cdk.json`` (the cdk CLI) and by ``make synth`` (no CLI, no credentials).

A cdk-nag error that is not suppressed fails the synth: the ``annotationsInValidationReport`` feature flag turns
error annotations into a validation failure, listed above the error and in ``cdk.out/validation-report.json``.
"""

from __future__ import annotations

import os

from stacks import constants
from stacks.application import build_app

if __name__ == "__main__":
    build_app(outdir=None if "CDK_OUTDIR" in os.environ else constants.DEFAULT_OUTDIR).synth()
