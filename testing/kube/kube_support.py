"""TLS material and EKS token checks for fake_apiserver.py.

- `make_tls(dir)`: a self-signed CA and a server certificate it signs, for 127.0.0.1 and
  localhost, in the form rustls (webpki) accepts: X.509 v3, the names in subjectAltName (the
  CN is not consulted), a CA with basicConstraints CA:TRUE and keyCertSign, a leaf with
  CA:FALSE and extendedKeyUsage serverAuth. ECDSA P-256 keys: quick to make.
- `check_eks_token(token, now)`: the structure of a token as `aws eks get-token` and
  aws-iam-authenticator make it. The signature cannot be checked without AWS.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import os
import re
from urllib.parse import parse_qs, urlsplit

# -- TLS --------------------------------------------------------------------------------


def make_tls(directory: str) -> tuple[str, str, str]:
    """Write DIR/ca.pem (the CA certificate), DIR/server.pem and DIR/server-key.pem; return
    their paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    os.makedirs(directory, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    start, end = now - dt.timedelta(hours=1), now + dt.timedelta(days=7)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ecrgc fake Kubernetes CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-apiserver")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    paths = tuple(os.path.join(directory, name) for name in ("ca.pem", "server.pem", "server-key.pem"))
    pem = serialization.Encoding.PEM
    contents = (
        ca_cert.public_bytes(pem),
        cert.public_bytes(pem),
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    for path, data in zip(paths, contents):
        tmp = path + ".tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)  # a reader never sees half a file
    return paths  # type: ignore[return-value]


# -- EKS tokens -------------------------------------------------------------------------
#
# The format, as aws-iam-authenticator's token generator and verifier define it
# (github.com/kubernetes-sigs/aws-iam-authenticator, pkg/token/token.go: GetWithSTS and
# Verify) and `aws eks get-token` makes it (github.com/aws/aws-cli,
# awscli/customizations/eks/get_token.py, which presigns STS GetCallerIdentity with
# X-Amz-Expires=60 and the x-k8s-aws-id header):
#   "k8s-aws-v1." + base64url without padding (Go's RawURLEncoding) of a presigned STS
#   GetCallerIdentity URL, at most 4096 bytes in all; the URL is https, on an STS host, path
#   "/"; its query parameters are only Action, Version, X-Amz-Algorithm, X-Amz-Credential,
#   X-Amz-Date, X-Amz-Expires, X-Amz-Security-Token, X-Amz-Signature, X-Amz-SignedHeaders
#   (case-insensitive), each once; Action=GetCallerIdentity; the signed headers include
#   x-k8s-aws-id (the cluster's name, sent as a header, so not visible in the URL);
#   X-Amz-Expires between 0 and 900 (the generator sends 60); X-Amz-Date (20060102T150405Z
#   form) no more than 15 minutes old, since STS honours a presigned GetCallerIdentity URL for
#   15 minutes after it.
# Checked here besides: Version=2011-06-15, X-Amz-Algorithm=AWS4-HMAC-SHA256, a credential
# scope ACCESS_KEY/DATE/REGION/sts/aws4_request whose DATE is X-Amz-Date's and whose REGION is
# a regional host's, a 64-hex-digit signature, and a date no more than 15 minutes ahead.

TOKEN_PREFIX = "k8s-aws-v1."
MAX_TOKEN_BYTES = 4096
ALLOWED_PARAMS = {"action", "version", "x-amz-algorithm", "x-amz-credential", "x-amz-date",
                  "x-amz-expires", "x-amz-security-token", "x-amz-signature", "x-amz-signedheaders"}
_STS_HOST = re.compile(r"^sts(?:\.([a-z]{2}(?:-[a-z]+)+-\d+))?\.amazonaws\.com(?:\.cn)?$")
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


class TokenError(ValueError):
    pass


def decode_eks_token(token: str) -> str:
    """The presigned URL inside a token (TokenError when it is not one)."""
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenError("token is too large")
    if not token.startswith(TOKEN_PREFIX):
        raise TokenError(f"token is missing expected {TOKEN_PREFIX!r} prefix")
    body = token[len(TOKEN_PREFIX):]
    if not _B64URL.match(body) or len(body) % 4 == 1:
        raise TokenError("token is not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise TokenError(f"token does not decode: {exc}") from None


def check_eks_token(token: str, now: dt.datetime | None = None) -> str:
    """Return the presigned URL of a well-formed EKS token; raise TokenError otherwise."""
    url = decode_eks_token(token)
    now = now or dt.datetime.now(dt.timezone.utc)
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise TokenError(f"unexpected scheme {parts.scheme!r} in pre-signed URL")
    host = _STS_HOST.match(parts.hostname or "")
    if host is None or parts.port is not None:
        raise TokenError(f"unexpected hostname {parts.netloc!r} in pre-signed URL")
    if parts.path != "/":
        raise TokenError("unexpected path in pre-signed URL")
    try:
        raw = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise TokenError("malformed query parameter") from None
    params: dict[str, str] = {}
    for key, values in raw.items():
        lower = key.lower()
        if lower not in ALLOWED_PARAMS:
            raise TokenError(f"non-whitelisted query parameter {key!r}")
        if len(values) != 1 or lower in params:
            raise TokenError("query parameter with multiple values not supported")
        params[lower] = values[0]
    if params.get("action") != "GetCallerIdentity":
        raise TokenError("unexpected action parameter in pre-signed URL")
    if params.get("version") != "2011-06-15":
        raise TokenError("unexpected version parameter in pre-signed URL")
    if params.get("x-amz-algorithm") != "AWS4-HMAC-SHA256":
        raise TokenError("unexpected X-Amz-Algorithm in pre-signed URL")
    signed = [h.strip().lower() for h in params.get("x-amz-signedheaders", "").split(";")]
    if "x-k8s-aws-id" not in signed:
        raise TokenError("client did not sign the x-k8s-aws-id header in the pre-signed URL")
    try:
        expires = int(params.get("x-amz-expires", ""))
    except ValueError:
        raise TokenError("invalid X-Amz-Expires parameter in pre-signed URL") from None
    if not 0 <= expires <= 900:
        raise TokenError(f"invalid X-Amz-Expires parameter in pre-signed URL: {expires}")
    date = params.get("x-amz-date", "")
    try:
        signed_at = dt.datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise TokenError(f"X-Amz-Date parameter {date!r} is missing or not in 20060102T150405Z form") from None
    if abs((now - signed_at).total_seconds()) > 15 * 60:
        raise TokenError(f"X-Amz-Date parameter is not within 15 minutes of now: {date}")
    scope = params.get("x-amz-credential", "").split("/")
    if len(scope) != 5 or not scope[0] or scope[1] != date[:8] or scope[3] != "sts" or scope[4] != "aws4_request":
        raise TokenError("malformed X-Amz-Credential in pre-signed URL")
    if host.group(1) and scope[2] != host.group(1):
        raise TokenError(f"credential region {scope[2]!r} is not the STS host's {host.group(1)!r}")
    if not re.fullmatch(r"[0-9a-f]{64}", params.get("x-amz-signature", "")):
        raise TokenError("malformed X-Amz-Signature in pre-signed URL")
    return url
