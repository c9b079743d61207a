"""Content Credentials (C2PA): every stored result is signed with a manifest saying a model made
it, which model through which provider, and from which inputs; any image's credentials can be
read back and checked.

Through c2pa-python (the Content Authenticity Initiative's c2pa-rs): the manifest format, its
hard binding to the bytes and the certificate rules are far too easy to get subtly wrong by hand.
Signing is local: no time-stamp authority unless one is configured, and reading never fetches a
remote manifest or an OCSP answer.
"""

import datetime
import hashlib
import io
import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings
from django.utils.translation import gettext as _

from bananasite.errors import ValidationFailed

from .provenance import DIGITAL_SOURCE_TYPE

logger = logging.getLogger(__name__)

CLAIM_GENERATOR = "bananasite"
DEV_CHAIN = "signer-chain.pem"
DEV_KEY = "signer-key.pem"
DEV_CA = "dev-ca.pem"
DEV_ORGANIZATION = "bananasite development"
# A development signer is replaced this long before it expires.
DEV_RENEW_BEFORE = datetime.timedelta(days=30)

# What a reader says, reduced to the three answers a person needs.
VALID, TAMPERED, NONE = "valid", "tampered", "none"
# A failure code that says who signed is not on the reader's trust list, not that the bytes or
# the manifest were changed: reported as `trusted: false`, never as tampering.
UNTRUSTED_CODES = {"signingCredential.untrusted"}


class SigningFailed(Exception):
    """The result could not be signed."""


class SigningUnavailable(SigningFailed):
    """No certificate to sign with, or the one configured cannot be used."""


# --- Certificates --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    chain: bytes
    key: bytes
    alg: str
    development: bool


def _algorithm(key: Any) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algs = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if key.curve.name in algs:
            return algs[key.curve.name]
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    elif isinstance(key, rsa.RSAPrivateKey):
        return "ps256"  # C2PA allows RSA only with PSS padding
    raise SigningUnavailable(
        "The C2PA private key must be EC (P-256, P-384, P-521), Ed25519 or RSA."
    )


def _load(chain_path: Path, key_path: Path, *, development: bool) -> SigningKey:
    try:
        chain, key = chain_path.read_bytes(), key_path.read_bytes()
        alg = _algorithm(serialization.load_pem_private_key(key, password=None))
        x509.load_pem_x509_certificates(chain)
    except OSError as exc:
        raise SigningUnavailable(f"Cannot read the C2PA certificate or key: {exc}") from None
    except ValueError as exc:
        raise SigningUnavailable(f"The C2PA certificate or key is not PEM: {exc}") from None
    return SigningKey(chain=chain, key=key, alg=alg, development=development)


def signing_key() -> SigningKey:
    """The operator's certificate when configured, else the development one."""
    if settings.BANANASITE_C2PA_CERT_CHAIN:
        return _load(
            Path(settings.BANANASITE_C2PA_CERT_CHAIN),
            Path(settings.BANANASITE_C2PA_PRIVATE_KEY),
            development=False,
        )
    directory = Path(settings.BANANASITE_C2PA_DEV_DIR)
    if not (directory / DEV_CHAIN).is_file():
        raise SigningUnavailable(
            "No C2PA certificate: set BANANASITE_C2PA_CERT_CHAIN and BANANASITE_C2PA_PRIVATE_KEY,"
            " or run `manage.py make_dev_certificate`."
        )
    return _load(directory / DEV_CHAIN, directory / DEV_KEY, development=True)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, DEV_ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not sign,
        crl_sign=not sign,
        encipher_only=False,
        decipher_only=False,
    )


def make_development_certificate(directory: Path, *, now: datetime.datetime | None = None) -> bool:
    """Write a development CA and a signing certificate it issued (with the key usage and
    extended key usage C2PA asks of a signer) to `directory`; False if a usable one is there.

    C2PA refuses a self-signed signing certificate, hence the two. The CA's key is thrown away:
    nothing else is ever issued under it."""
    now = now or datetime.datetime.now(datetime.UTC)
    chain_path, key_path = directory / DEV_CHAIN, directory / DEV_KEY
    if chain_path.is_file() and key_path.is_file():
        try:
            leaf = x509.load_pem_x509_certificates(chain_path.read_bytes())[0]
            if leaf.not_valid_after_utc - DEV_RENEW_BEFORE > now:
                return False
        except ValueError:
            pass  # unreadable: made again
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("bananasite development CA (untrusted)")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(sign=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("bananasite development signer"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(sign=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_path.touch(mode=0o600, exist_ok=True)
    key_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    chain_path.write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    (directory / DEV_CA).write_bytes(ca.public_bytes(pem))
    return True


# --- Signing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ingredient:
    """An image the result was made from: an input, or the earlier composition's result."""

    title: str
    data: bytes
    mime_type: str
    relationship: str = "inputTo"  # C2PA: an input to the generative model
    description: str = ""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def _context() -> c2pa.Context:
    config: dict[str, Any] = {
        "builder": {"thumbnail": {"enabled": settings.BANANASITE_C2PA_THUMBNAILS}},
        "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
    }
    if settings.BANANASITE_C2PA_TRUST_ANCHORS:
        anchors = Path(settings.BANANASITE_C2PA_TRUST_ANCHORS).read_text()
        config["trust"] = {"user_anchors": anchors}
    return c2pa.Context.from_dict(config)


def has_manifest(data: bytes, mime_type: str) -> bool:
    """Whether the bytes carry a C2PA manifest (valid or not)."""
    try:
        reader = c2pa.Reader.try_create(mime_type, io.BytesIO(data), context=_context())
    except c2pa.C2paError:
        return True  # a manifest is there, even if it cannot be read
    if reader is None:
        return False
    reader.close()
    return True


def sign_result(
    data: bytes,
    mime_type: str,
    *,
    title: str,
    model: str,
    provider: str,
    ingredients: list[Ingredient],
) -> bytes:
    """The bytes with a signed manifest embedded (no pixel re-encoded).

    If the bytes carry a manifest already (Google signs Nano Banana Pro results), it is kept as
    the parent ingredient, and the action is `c2pa.opened` on it, since `c2pa.created` would
    claim the picture began here; otherwise `c2pa.created`."""
    key = signing_key()
    parent = has_manifest(data, mime_type)
    action: dict[str, Any] = {
        "action": "c2pa.opened" if parent else "c2pa.created",
        "digitalSourceType": DIGITAL_SOURCE_TYPE,
        "softwareAgent": {"name": CLAIM_GENERATOR},
        "parameters": {"model": model, "provider": provider},
    }
    if parent:
        action["parameters"]["ingredientIds"] = ["provider-result"]
    manifest = {
        "claim_generator_info": [{"name": CLAIM_GENERATOR}],
        "title": title,
        "format": mime_type,
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [action]}}],
    }
    try:  # a key that does not match its certificate fails here, not at start-up
        signer = c2pa.Signer.from_info(
            c2pa.C2paSignerInfo(
                alg=key.alg,
                sign_cert=key.chain,
                private_key=key.key,
                ta_url=settings.BANANASITE_C2PA_TSA_URL or None,
            )
        )
        with signer:
            return _sign(
                data, mime_type, manifest, signer, ingredients, parent=parent, provider=provider
            )
    except c2pa.C2paError as exc:
        raise SigningFailed(f"C2PA signing failed: {exc}") from exc


def _sign(
    data: bytes,
    mime_type: str,
    manifest: dict[str, Any],
    signer: c2pa.Signer,
    ingredients: list[Ingredient],
    *,
    parent: bool,
    provider: str,
) -> bytes:
    with c2pa.Builder(manifest, context=_context()) as builder:
        if parent:
            builder.add_ingredient(
                {
                    "title": f"{provider} result",
                    "relationship": "parentOf",
                    "instance_id": "provider-result",
                    "label": "provider-result",
                    "description": f"The image as {provider} returned it, with its credentials.",
                },
                mime_type,
                io.BytesIO(data),
            )
        for item in ingredients:
            definition: dict[str, Any] = {
                "title": item.title,
                "relationship": item.relationship,
                "metadata": {"sha256": item.sha256},
            }
            if item.description:
                definition["description"] = item.description
            builder.add_ingredient(definition, item.mime_type, io.BytesIO(item.data))
        out = io.BytesIO()
        builder.sign(signer, mime_type, io.BytesIO(data), out)
    return out.getvalue()


# --- Reading -------------------------------------------------------------------------------------


def _codes(entries: list[dict[str, Any]] | None) -> list[str]:
    return [e.get("code", "") for e in entries or []]


def _ingredient_summary(
    item: dict[str, Any], manifests: dict[str, Any], deltas: dict[str, list[str]]
) -> dict[str, Any]:
    own = manifests.get(item.get("active_manifest") or "") or {}
    failures = deltas.get(item.get("label", ""), [])
    own_failures = _codes(
        (item.get("validation_results") or {}).get("activeManifest", {}).get("failure")
    )
    problems = [c for c in failures + own_failures if c not in UNTRUSTED_CODES]
    return {
        "title": item.get("title", ""),
        "relationship": item.get("relationship", ""),
        "format": item.get("format", ""),
        "sha256": (item.get("metadata") or {}).get("sha256", ""),
        "description": item.get("description", ""),
        "manifest": (
            {
                "issuer": (own.get("signature_info") or {}).get("issuer", ""),
                "claim_generator": _generator(own),
                "state": TAMPERED if problems else VALID,
            }
            if own
            else None
        ),
    }


def _generator(manifest: dict[str, Any]) -> str:
    info = manifest.get("claim_generator_info") or [{}]
    return str(info[0].get("name", "")) or str(manifest.get("claim_generator", ""))


def summarize(store: dict[str, Any]) -> dict[str, Any]:
    """A reader's manifest store, reduced to what the page and the API show."""
    manifests = store.get("manifests") or {}
    active = manifests.get(store.get("active_manifest") or "") or {}
    results = store.get("validation_results") or {}
    failures = _codes((results.get("activeManifest") or {}).get("failure"))
    deltas = {
        d.get("ingredientAssertionURI", "").rsplit("/", 1)[-1]: _codes(
            (d.get("validationDeltas") or {}).get("failure")
        )
        for d in results.get("ingredientDeltas") or []
    }
    problems = [c for c in failures if c not in UNTRUSTED_CODES]
    for codes in deltas.values():
        problems += [c for c in codes if c not in UNTRUSTED_CODES]
    state = store.get("validation_state", "")
    tampered = state == "Invalid" or bool(problems) or not active
    actions = []
    for assertion in active.get("assertions") or []:
        if assertion.get("label", "").startswith("c2pa.actions"):
            for action in (assertion.get("data") or {}).get("actions") or []:
                parameters = action.get("parameters") or {}
                actions.append(
                    {
                        "action": action.get("action", ""),
                        "digital_source_type": action.get("digitalSourceType", ""),
                        "model": str(parameters.get("model", "")),
                        "provider": str(parameters.get("provider", "")),
                    }
                )
    signature = active.get("signature_info") or {}
    return {
        "state": TAMPERED if tampered else VALID,
        "trusted": state == "Trusted",
        "problems": sorted(set(problems)),
        "issuer": signature.get("issuer", ""),
        "common_name": signature.get("common_name", ""),
        "signed_at": signature.get("time", ""),
        "claim_generator": _generator(active),
        "title": active.get("title", ""),
        "actions": actions,
        "ingredients": [
            _ingredient_summary(i, manifests, deltas) for i in active.get("ingredients") or []
        ],
    }


def read_credentials(data: bytes, mime_type: str = "") -> dict[str, Any]:
    """Whether an image's credentials are valid, tampered with, or absent, and what they say.

    `mime_type` empty: the format is found from the bytes. A manifest that cannot even be
    parsed counts as tampered: something claims to be credentials and does not hold up."""
    try:
        reader = c2pa.Reader.try_create(mime_type or None, io.BytesIO(data), context=_context())
    except c2pa.C2paError.NotSupported:
        raise
    except c2pa.C2paError as exc:
        logger.info("Unreadable C2PA manifest: %s", exc)
        return {"state": TAMPERED, "trusted": False, "problems": ["manifest.unreadable"]}
    if reader is None:
        return {"state": NONE, "trusted": False, "problems": []}
    with reader:
        return summarize(json.loads(reader.json()))


@lru_cache(maxsize=1)
def supported_types() -> frozenset[str]:
    return frozenset(c2pa.Reader.get_supported_mime_types())


def _validation(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "state": summary.get("state", NONE),
        "trusted": bool(summary.get("trusted")),
        "problems": list(summary.get("problems") or []),
    }


def _manifest(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "issuer": summary.get("issuer", ""),
        "claim_generator": summary.get("claim_generator", ""),
        "title": summary.get("title", ""),
        "actions": summary.get("actions") or [],
        "ingredients": summary.get("ingredients") or [],
    }


def result_credentials(stored: dict[str, Any]) -> dict[str, Any]:
    """A result's credentials (as read back when it was signed) for the page and the API."""
    if not stored.get("signed"):
        return {"signed": False, **_manifest({}), "validation": _validation({})}
    return {"signed": True, **_manifest(stored), "validation": _validation(stored)}


def verification(summary: dict[str, Any]) -> dict[str, Any]:
    """What a reader found in any image, for the verify page and endpoint."""
    has_manifest = summary.get("state", NONE) != NONE and "issuer" in summary
    return {
        "validation": _validation(summary),
        "manifest": _manifest(summary) if has_manifest else None,
    }


def sniff_media_type(data: bytes) -> str:
    """The image format from its first bytes, or "".

    Not Pillow: opening a PNG checks the CRC of every chunk before the pixels, the C2PA chunk
    among them, so a tampered file would be refused as "not an image" instead of reported."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"avif", b"avis"):
            return "image/avif"
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis"):
            return "image/heic"
    return ""


def verify_image(fileobj: Any, *, label: str, size: int | None) -> dict[str, Any]:
    """Read the credentials of an image someone sent to be checked: valid, tampered or none.

    The format comes from the first bytes (no pixel is decoded); c2pa reads the rest."""
    limit = settings.BANANASITE_MAX_UPLOAD_BYTES
    too_large = _("“%(name)s” is larger than the %(limit)d MB limit.") % {
        "name": label,
        "limit": limit // 1048576,
    }
    if size is not None and size > limit:
        raise ValidationFailed([("image", "image_too_large", too_large)])
    data = fileobj.read(limit + 1)
    if len(data) > limit:
        raise ValidationFailed([("image", "image_too_large", too_large)])
    unsupported = _("“%(name)s” is not an image whose credentials can be read.") % {"name": label}
    media_type = sniff_media_type(data)
    if media_type not in supported_types():
        raise ValidationFailed([("image", "unsupported_image_type", unsupported)])
    try:
        return verification(read_credentials(data, media_type))
    except c2pa.C2paError.NotSupported:
        raise ValidationFailed([("image", "unsupported_image_type", unsupported)]) from None
