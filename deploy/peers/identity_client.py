#!/usr/bin/env python3
"""A third-party OpenID Connect client against the hotline's issuer (services/identity), with
PyPI `PyJWT` (its PyJWKClient reads the JWKS) and `requests`:

  1. reads discovery and checks the endpoints and algorithms it names,
  2. password grant (a script's sign-in): the access token verifies with PyJWT against the keys
     at `jwks_uri` (ES256, iss, aud, exp, nbf) and names the account and its roles,
  3. authorization code with PKCE S256, as a browser would: the sign-in page, the form post,
     the 302 back with code, state and iss; the exchange; the ID token verifies for the client
     with the nonce; the code does not work twice,
  4. refresh: the token rotates; the used one is refused afterwards.

Environment: IDENTITY_BASE (default http://127.0.0.1:8079), REDIRECT_URI (default
http://127.0.0.1:8089/auth/callback), USERNAME/PASSWORD (default agent1 / demo-agent1).
"""

import base64
import hashlib
import os
import secrets
import sys
from urllib.parse import parse_qs, urlsplit

import jwt
import requests

CLIENT_ID = "hotline-console"


def fail(message):
    print(f"identity peer: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def token(endpoint, **form):
    r = requests.post(endpoint, data=form, timeout=10)
    return r.status_code, r.json()


def main():
    base = os.environ.get("IDENTITY_BASE", "http://127.0.0.1:8079").rstrip("/")
    redirect_uri = os.environ.get("REDIRECT_URI", "http://127.0.0.1:8089/auth/callback")
    username = os.environ.get("USERNAME", "agent1")
    password = os.environ.get("PASSWORD", "demo-agent1")

    d = requests.get(f"{base}/.well-known/openid-configuration", timeout=10).json()
    check(d["issuer"] == base, f"issuer {d['issuer']!r} is not {base!r}")
    check("S256" in d["code_challenge_methods_supported"], "no PKCE S256")
    check("ES256" in d["id_token_signing_alg_values_supported"], "no ES256")
    for grant in ("authorization_code", "password", "refresh_token"):
        check(grant in d["grant_types_supported"], f"no {grant} grant")
    jwks = jwt.PyJWKClient(d["jwks_uri"])

    def verify(tok, audience):
        key = jwks.get_signing_key_from_jwt(tok)
        return jwt.decode(
            tok,
            key.key,
            algorithms=["ES256"],
            audience=audience,
            issuer=base,
            options={"require": ["exp", "iat", "iss", "sub", "aud"]},
        )

    # 2. Password grant.
    status, body = token(
        d["token_endpoint"],
        grant_type="password",
        client_id=CLIENT_ID,
        username=username,
        password=password,
    )
    check(status == 200, f"password grant: {status} {body}")
    claims = verify(body["access_token"], "hotline")
    check(claims["sub"] == username, f"sub {claims['sub']!r}")
    check(isinstance(claims.get("roles"), list) and claims["roles"], f"roles {claims.get('roles')!r}")
    check(jwt.get_unverified_header(body["access_token"])["kid"], "no kid")
    status, wrong = token(
        d["token_endpoint"],
        grant_type="password",
        client_id=CLIENT_ID,
        username=username,
        password=password + "-wrong",
    )
    check(status == 400 and wrong.get("error") == "invalid_grant", f"wrong password: {status} {wrong}")
    info = requests.get(
        d["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {body['access_token']}"},
        timeout=10,
    ).json()
    check(info.get("sub") == username, f"userinfo {info}")

    # 3. Authorization code with PKCE.
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": redirect_uri,
        "scope": "openid profile hotline",
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = requests.get(d["authorization_endpoint"], params=params, timeout=10)
    check(page.status_code == 200 and "<form" in page.text, f"sign-in page: {page.status_code}")
    r = requests.post(
        d["authorization_endpoint"],
        data={**params, "username": username, "password": password},
        allow_redirects=False,
        timeout=10,
    )
    check(r.status_code == 302, f"sign-in: {r.status_code}")
    location = urlsplit(r.headers["Location"])
    q = {k: v[0] for k, v in parse_qs(location.query).items()}
    check(f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri, f"redirected to {location}")
    check(q.get("state") == state and q.get("iss") == base, f"redirect query {q}")
    exchange = dict(
        grant_type="authorization_code",
        client_id=CLIENT_ID,
        code=q["code"],
        redirect_uri=redirect_uri,
        code_verifier=verifier,
    )
    status, body = token(d["token_endpoint"], **exchange)
    check(status == 200, f"code exchange: {status} {body}")
    check(verify(body["access_token"], "hotline")["sub"] == username, "code flow sub")
    id_claims = verify(body["id_token"], CLIENT_ID)
    check(id_claims.get("nonce") == nonce, f"id token nonce {id_claims.get('nonce')!r}")
    status, again = token(d["token_endpoint"], **exchange)
    check(status == 400 and again.get("error") == "invalid_grant", f"code reused: {status} {again}")

    # 4. Refresh rotation (a fresh sign-in: the replayed code revoked the one above).
    _, fresh = token(
        d["token_endpoint"],
        grant_type="password",
        client_id=CLIENT_ID,
        username=username,
        password=password,
    )
    status, rotated = token(
        d["token_endpoint"], grant_type="refresh_token", client_id=CLIENT_ID, refresh_token=fresh["refresh_token"]
    )
    check(status == 200 and rotated["refresh_token"] != fresh["refresh_token"], f"refresh: {status} {rotated}")
    verify(rotated["access_token"], "hotline")
    status, replay = token(
        d["token_endpoint"], grant_type="refresh_token", client_id=CLIENT_ID, refresh_token=fresh["refresh_token"]
    )
    check(status == 400 and replay.get("error") == "invalid_grant", f"refresh replay: {status} {replay}")

    print("identity peer: ok (PyJWT verified password-grant, code+PKCE and refreshed tokens against the JWKS)")


if __name__ == "__main__":
    main()
