"""The end of a SageMaker training script: register what the job wrote to
SM_MODEL_DIR with the modelreg registry behind API Gateway, signed with
SigV4 by the job's execution role (botocore's default credentials inside
the container; the region from AWS_REGION, which SageMaker sets).

In train.py, after training and saving the model under SM_MODEL_DIR:

    from register_model import register_from_sagemaker
    register_from_sagemaker("churn", metrics={"auc": (auc, "validation")},
                            params=vars(args))

Environment: MODELREG_URL (the API's invoke URL; pass it as a training-job
environment variable). The job needs the IAM policy in iam-policy.json.
Lineage recorded: the training job name (TRAINING_JOB_NAME), the entry
point and the input channels' names (SM_TRAINING_ENV), the image
(MODELREG_IMAGE_URI, if set), the git commit when the source is a
checkout, and each input channel's local path as a tag.
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping, Optional

import modelreg


def sagemaker_lineage(env: Optional[Mapping[str, str]] = None) -> dict:
    """The lineage and tags a training job's environment gives."""
    e = os.environ if env is None else env
    sm = json.loads(e.get("SM_TRAINING_ENV") or "{}")
    lineage: dict = {"run": {}, "code": {}, "environment": {}}
    if e.get("TRAINING_JOB_NAME") or sm.get("job_name"):
        lineage["run"]["run_id"] = e.get("TRAINING_JOB_NAME") or sm["job_name"]
    if sm.get("user_entry_point"):
        lineage["code"]["entry_point"] = sm["user_entry_point"]
    if e.get("MODELREG_IMAGE_URI"):
        lineage["environment"]["image_uri"] = e["MODELREG_IMAGE_URI"]
    tags = {}
    for k, v in e.items():
        if k.startswith("SM_CHANNEL_"):
            tags["sagemaker.channel." + k[len("SM_CHANNEL_"):].lower()] = v
    if sm.get("current_instance_type"):
        tags["sagemaker.instance_type"] = sm["current_instance_type"]
    return {"lineage": lineage, "tags": tags}


def register_from_sagemaker(name: str, *, metrics: Optional[Mapping[str, Any]] = None,
                            params: Optional[Mapping[str, Any]] = None, dataset: Optional[str] = None,
                            client: Optional[modelreg.Client] = None) -> modelreg.Version:
    """Registers SM_MODEL_DIR's files as the next version of name (SigV4
    unless a client is given) and returns it READY."""
    model_dir = os.environ.get("SM_MODEL_DIR", "/opt/ml/model")
    sm = sagemaker_lineage()
    c = client or modelreg.Client(auth="sigv4")
    return c.register(name, artifacts=[model_dir], metrics=metrics, params=params, dataset=dataset,
                      tags=sm["tags"], lineage=sm["lineage"])
