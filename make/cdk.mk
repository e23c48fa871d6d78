# The CDK app (app.py, stacks/). Synth needs node but no AWS credentials and no network: the functions' dependencies
# layer is built beforehand from uv.lock (wheels for the Lambda platform, fetched once per change of the lock).
.PHONY: synth lambda-layer

lambda-layer: $(UV) ## Build the functions' dependencies layer (build/lambda-layer) from uv.lock; a no-op when unchanged
	$(PYTHON) make/lambda_layer.py --uv $(UV)

test: lambda-layer
bench: lambda-layer

synth: $(STAMP) lambda-layer ## Synthesize the CDK app into cdk.out, with the cdk-nag report (fails on any unsuppressed finding)
	$(BIN)/python app.py
	@ls cdk.out/*.template.json cdk.out/*NagReport.csv
