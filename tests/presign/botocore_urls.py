"""Presigned GET URLs from botocore, the reference the registry's signer is compared with.

Reads JSON from stdin: {"account", "bucket", "access_key_id", "secret_access_key", "region",
"timestamp" (YYYYmmddTHHMMSSZ), "expires", "keys": [...]}, and prints one URL per key, made
the way boto3 users presign R2 objects: an S3 client on the account's endpoint, path-style.
"""

import datetime
import json
import sys
from unittest import mock

import botocore.auth
import botocore.session
from botocore.config import Config

request = json.load(sys.stdin)
now = datetime.datetime.strptime(request["timestamp"], "%Y%m%dT%H%M%SZ")
client = botocore.session.get_session().create_client(
    "s3",
    region_name=request["region"],
    endpoint_url=f"https://{request['account']}.r2.cloudflarestorage.com",
    aws_access_key_id=request["access_key_id"],
    aws_secret_access_key=request["secret_access_key"],
    config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
)
with mock.patch.object(botocore.auth, "get_current_datetime", return_value=now):
    for key in request["keys"]:
        print(
            client.generate_presigned_url(
                "get_object",
                Params={"Bucket": request["bucket"], "Key": key},
                ExpiresIn=request["expires"],
            )
        )
