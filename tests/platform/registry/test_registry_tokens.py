"""TokenIssuer and the token endpoint logic: what is granted, signatures, key persistence."""

from __future__ import annotations

import base64
import json
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import given, settings
from hypothesis import strategies as st

from tektii_core.errors import TektiiError
from tektii_platform.registry.tokens import Scope, TokenIssuer, libtrust_key_id, parse_scopes, token_endpoint


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def decode(issuer: TokenIssuer, token: str) -> tuple[dict, dict]:
    """Header and claims, after checking the signature against the issuer's certificate."""
    header, claims, signature = token.split(".")
    cert = x509.load_pem_x509_certificate(issuer.cert_path.read_bytes())
    cert.public_key().verify(_b64decode(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return json.loads(_b64decode(header)), json.loads(_b64decode(claims))


@pytest.fixture
def issuer(tmp_path) -> TokenIssuer:
    return TokenIssuer(tmp_path / "keys", service="svc", issuer="iss")


def test_grants_only_the_intersection_of_requested_and_allowed(issuer):
    response = issuer.issue(
        "user_1",
        {"strat_a/ver_1": {"pull", "push"}, "strat_a/ver_0": {"pull"}},
        [
            "repository:strat_a/ver_1:push,pull",
            "repository:strat_a/ver_0:pull,push",
            "repository:strat_b/ver_9:push,pull",
            "registry:catalog:*",
        ],
    )
    header, claims = decode(issuer, response["token"])
    assert header["alg"] == "RS256"
    assert header["kid"] == libtrust_key_id(issuer._key.public_key())
    assert claims["access"] == [
        {"type": "repository", "name": "strat_a/ver_1", "actions": ["pull", "push"]},
        {"type": "repository", "name": "strat_a/ver_0", "actions": ["pull"]},
    ]
    assert claims["sub"] == "user_1" and claims["iss"] == "iss" and claims["aud"] == "svc"
    assert claims["exp"] - claims["iat"] == 300 == response["expires_in"]
    assert response["access_token"] == response["token"]
    assert response["issued_at"].endswith("Z")


def test_patterns_in_granted_and_space_separated_scopes(issuer):
    response = issuer.issue(
        "user_1",
        {"strat_a/*": {"pull"}},
        "repository:strat_a/ver_1:pull,push repository:strat_ab/ver_1:pull",
        ttl=60,
    )
    _, claims = decode(issuer, response["token"])
    assert claims["access"] == [{"type": "repository", "name": "strat_a/ver_1", "actions": ["pull"]}]
    assert response["expires_in"] == 60


def test_key_and_certificate_are_kept(tmp_path):
    first = TokenIssuer(tmp_path / "keys")
    again = TokenIssuer(tmp_path / "keys")
    assert first.cert_path.read_bytes() == again.cert_path.read_bytes()
    token = again.issue("u", {"r": {"pull"}}, "repository:r:pull")["token"]
    decode(first, token)  # signed by the same key
    assert oct(first.key_path.stat().st_mode & 0o777) == "0o600"


def test_key_id_format(issuer):
    kid = libtrust_key_id(issuer._key.public_key())
    groups = kid.split(":")
    # base32 alphabet, 12 groups of 4: the format docker/libtrust computes and the registry
    # matches the token header's "kid" against
    assert len(groups) == 12
    assert all(re.fullmatch("[A-Z2-7]{4}", group) for group in groups)


def test_scope_parsing():
    assert parse_scopes(None) == []
    assert parse_scopes("repository:a/b:pull,push") == [Scope("repository", "a/b", frozenset({"pull", "push"}))]
    with pytest.raises(TektiiError):
        Scope.parse("nonsense")


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_token_endpoint_answers(issuer):
    accounts = {"alice": ("pw", "user_a", {"strat_a/ver_1": {"push", "pull"}})}

    def authenticate(user, password):
        found = accounts.get(user)
        return (found[1], found[2]) if found and found[0] == password else None

    def call(authorization, query):
        return token_endpoint(issuer, authorization=authorization, query=query, authenticate=authenticate)

    scope = {"service": ["svc"], "scope": ["repository:strat_a/ver_1:push,pull"]}
    status, body = call(_basic("alice", "pw"), scope)
    assert status == 200
    assert decode(issuer, body["token"])[1]["access"][0]["actions"] == ["pull", "push"]

    status, body = call(_basic("alice", "wrong"), scope)
    assert (status, body["errors"][0]["code"]) == (401, "UNAUTHORIZED")
    assert call(None, scope)[0] == 401
    assert call("Basic !!!", scope)[0] == 401
    assert call(_basic("alice", "pw"), {"service": ["other"]})[0] == 400
    assert call(_basic("alice", "pw"), {"service": ["svc"], "scope": ["bad"]})[0] == 400
    # a login (no scope) gets a token that grants nothing
    status, body = call(_basic("alice", "pw"), {"service": ["svc"]})
    assert status == 200 and decode(issuer, body["token"])[1]["access"] == []


_names = st.sampled_from(["strat_a/ver_1", "strat_a/ver_2", "strat_b/ver_1", "strategies/strat_c"])
_actions = st.sets(st.sampled_from(["pull", "push", "delete"]), min_size=1)


@settings(max_examples=60, deadline=None)
@given(granted=st.dictionaries(_names, _actions), requested=st.dictionaries(_names, _actions))
def test_never_grants_more_than_requested_and_allowed(tmp_path_factory, granted, requested):
    issuer = _shared_issuer(tmp_path_factory)
    scopes = [f"repository:{name}:{','.join(sorted(actions))}" for name, actions in requested.items()]
    _, claims = decode(issuer, issuer.issue("user", granted, scopes)["token"])
    got = {entry["name"]: set(entry["actions"]) for entry in claims["access"]}
    expected = {name: requested[name] & granted.get(name, set()) for name in requested}
    assert got == {name: actions for name, actions in expected.items() if actions}


_ISSUERS: dict[str, TokenIssuer] = {}


def _shared_issuer(tmp_path_factory) -> TokenIssuer:
    # one RSA key for all examples: generating one per example would dominate the run time
    if "issuer" not in _ISSUERS:
        _ISSUERS["issuer"] = TokenIssuer(tmp_path_factory.mktemp("prop-keys"))
    return _ISSUERS["issuer"]
