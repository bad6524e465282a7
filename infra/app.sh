#!/usr/bin/env bash
# cdk.json's app: runs the CDK app (this directory's Go module) in infra/.
# The cdk CLI names the cloud assembly and its side files relative to where
# it runs (the repository root: CDK_OUTDIR=cdk.out, CDK_ERROR_FILE,
# CDK_PERF_COUNTERS_FILE); they are made absolute first so that the app,
# running in infra/, writes them where the CLI reads them.
set -euo pipefail
for v in CDK_OUTDIR CDK_ERROR_FILE CDK_PERF_COUNTERS_FILE; do
  val=${!v:-}
  if [ -n "$val" ] && [ "${val#/}" = "$val" ]; then
    export "$v=$PWD/$val"
  fi
done
cd "$(dirname "$0")"
exec go run .
