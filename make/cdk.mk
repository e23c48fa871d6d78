# The CDK app (app.py, stacks/). Synth needs node but no AWS credentials and no network.
.PHONY: synth

synth: $(STAMP) ## Synthesize the CDK app into cdk.out, with the cdk-nag report (fails on any unsuppressed finding)
	$(BIN)/python app.py
	@ls cdk.out/*.template.json cdk.out/*NagReport.csv
