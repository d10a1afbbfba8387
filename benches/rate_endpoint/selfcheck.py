#!/usr/bin/env python3
"""Checks the rate endpoint over the wire, with the standard library only (a few seconds).

    python3 benches/rate_endpoint/selfcheck.py

Starts server.py on a small organization and checks: STS identity and AssumeRole keys pick
the account; DescribeRepositories, DescribeImages and ListCoverage pages add up to the
organization's totals with no image twice; index manifests list their children; the token
bucket throttles beyond its burst in each protocol's error shape; a deleted image vanishes
from later listings and a child of a live index cannot be deleted. Prints one line per check,
then `selfcheck: N passed, N failed`, and exits 1 if any failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "server.py"), "--images", "3000", "--accounts", "2",
         "--regions", "eu-west-1,us-east-1", "--mean-repo", "300", "--latency-ms", "0",
         "--rate", "1000", "--burst", "1000", "--limit", "ecr:ListImageReferrers=1:3", "--port", "0"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().split()[1]
    failed = passed = 0

    def check(what, ok):
        nonlocal failed, passed
        print(("ok    " if ok else "FAIL  ") + what)
        if ok:
            passed += 1
        else:
            failed += 1

    def call(service, region, key, *, target=None, path="/", body=b"", method="POST"):
        headers = {"Authorization": f"AWS4-HMAC-SHA256 Credential={key}/20261121/{region}/{service}/aws4_request, "
                                    "SignedHeaders=host, Signature=0"}
        if target:
            headers["X-Amz-Target"] = target
            headers["Content-Type"] = "application/x-amz-json-1.1"
        req = urllib.request.Request(url + path, data=body if method == "POST" else None, headers=headers,
                                     method=method)
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def ecr(region, key, op, doc):
        status, headers, body = call("ecr", region, key, target=f"AmazonEC2ContainerRegistry_V20150921.{op}",
                                     body=json.dumps(doc).encode())
        return status, headers, json.loads(body)

    try:
        org = json.loads(urllib.request.urlopen(url + "/_bench/org").read())
        a0, a1 = org["accounts"]
        totals = org["totals"]
        status, _, body = call("sts", "us-east-1", "AKIDBASE", body=b"Action=GetCallerIdentity&Version=2011-06-15")
        check("GetCallerIdentity names the first account", status == 200 and f"<Account>{a0}</Account>" in body.decode())
        role = f"arn:aws:iam::{a1}:role/ecrgc-collector"
        status, _, body = call("sts", "us-east-1", "AKIDBASE",
                               body=f"Action=AssumeRole&RoleArn={role}&RoleSessionName=x&Version=2011-06-15".encode())
        check("AssumeRole hands out a key of the target account",
              status == 200 and f"<AccessKeyId>ASIA{a1}</AccessKeyId>" in body.decode())

        seen, tags, relations, coverage = set(), 0, 0, 0
        for account in (a0, a1):
            key = "AKIDBASE" if account == a0 else f"ASIA{account}"
            for region in org["regions"]:
                repos, token = [], None
                while True:
                    doc = {"maxResults": 7} | ({"nextToken": token} if token else {})
                    _, _, out = ecr(region, key, "DescribeRepositories", doc)
                    repos += [r["repositoryName"] for r in out["repositories"]]
                    token = out.get("nextToken")
                    if not token:
                        break
                for name in repos:
                    token = None
                    while True:
                        doc = {"repositoryName": name, "maxResults": 128} | ({"nextToken": token} if token else {})
                        _, _, out = ecr(region, key, "DescribeImages", doc)
                        for d in out["imageDetails"]:
                            seen.add((account, region, d["imageDigest"]))
                            tags += len(d["imageTags"])
                            relations += "subjectManifestDigest" in d
                            relations += any(t.endswith(".sig") for t in d["imageTags"])
                            if d["imageManifestMediaType"].endswith("index.v1+json"):
                                _, _, got = ecr(region, key, "BatchGetImage", {
                                    "repositoryName": name, "imageIds": [{"imageDigest": d["imageDigest"]}]})
                                relations += len(json.loads(got["images"][0]["imageManifest"])["manifests"])
                        token = out.get("nextToken")
                        if not token:
                            break
                token = None
                while True:
                    doc = {"maxResults": 50, "filterCriteria": {
                        "resourceType": [{"comparison": "EQUALS", "value": "AWS_ECR_CONTAINER_IMAGE"}],
                        "accountId": [{"comparison": "EQUALS", "value": account}]}}
                    if token:
                        doc["nextToken"] = token
                    _, _, body = call("inspector2", region, key, path="/coverage/list", body=json.dumps(doc).encode())
                    out = json.loads(body)
                    coverage += len(out["coveredResources"])
                    token = out.get("nextToken")
                    if not token:
                        break
        check(f"DescribeImages pages hold every image once ({len(seen)} of {totals['images']})",
              len(seen) == totals["images"])
        check(f"tags and relations add up ({tags}/{totals['image_tags']}, {relations}/{totals['image_relations']})",
              tags == totals["image_tags"] and relations == totals["image_relations"])
        check(f"ListCoverage pages hold every covered image ({coverage} of {totals['inspector_coverage']})",
              coverage == totals["inspector_coverage"])

        statuses = [ecr("eu-west-1", "AKIDBASE", "ListImageReferrers", {})[0] for _ in range(5)]
        status, headers, out = ecr("eu-west-1", "AKIDBASE", "ListImageReferrers", {})
        check("the bucket lets its burst through, then throttles (awsJson1_1 shape)",
              statuses[:3] == [200] * 3 and status == 400 and out.get("__type") == "ThrottlingException"
              and headers.get("x-amzn-ErrorType") == "ThrottlingException")
        status, _, _ = ecr("eu-west-1", f"ASIA{a1}", "ListImageReferrers", {})
        check("another account has its own bucket", status == 200)
        urllib.request.urlopen(urllib.request.Request(url + "/_bench/limits", data=json.dumps(
            {"limits": {"inspector2:ListCoverage": [1, 1]}}).encode(), method="POST")).read()
        for _ in range(2):
            status, headers, body = call("inspector2", "eu-west-1", "AKIDBASE", path="/coverage/list", body=b"{}")
        check("restJson1 throttles with 429 and x-amzn-ErrorType",
              status == 429 and headers.get("x-amzn-ErrorType") == "ThrottlingException")

        _, _, out = ecr("eu-west-1", "AKIDBASE", "DescribeRepositories", {"maxResults": 1})
        name = out["repositories"][0]["repositoryName"]
        _, _, out = ecr("eu-west-1", "AKIDBASE", "DescribeImages", {"repositoryName": name, "maxResults": 3})
        index, child = out["imageDetails"][0]["imageDigest"], out["imageDetails"][1]["imageDigest"]
        _, _, out = ecr("eu-west-1", "AKIDBASE", "BatchDeleteImage",
                        {"repositoryName": name, "imageIds": [{"imageDigest": child}]})
        check("a child of a live index is refused",
              out["failures"][0]["failureCode"] == "ImageReferencedByManifestList")
        _, _, out = ecr("eu-west-1", "AKIDBASE", "BatchDeleteImage", {
            "repositoryName": name, "imageIds": [{"imageDigest": index}, {"imageDigest": child}]})
        check("index then child are deleted", len(out["imageIds"]) == 2 and not out["failures"])
        status, _, out = ecr("eu-west-1", "AKIDBASE", "DescribeImages",
                             {"repositoryName": name, "imageIds": [{"imageDigest": index}]})
        check("a deleted image is not found", status == 400 and out["__type"] == "ImageNotFoundException")
        _, _, out = ecr("eu-west-1", "AKIDBASE", "DescribeImages", {"repositoryName": name, "maxResults": 1000})
        listed = {d["imageDigest"] for d in out["imageDetails"]}
        check("deleted images vanish from listings", index not in listed and child not in listed)
        stats = json.loads(urllib.request.urlopen(url + "/_bench/stats").read())
        check("stats count deletions and throttles",
              stats["deletions"] == 2 and stats["throttles"].get("ecr:ListImageReferrers", 0) >= 1)
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
    print(f"selfcheck: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
