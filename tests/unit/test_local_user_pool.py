"""The local user pool tells the truth: SRP sign-in checks the password, and tokens are signed with a key of this
process, not with the key moto ships. On moto's Cognito in-process, adapted as the local stack runs it; the client is
pycognito's ``AWSSRP``, an SRP implementation written independently of ``local.aws.cognitoidp.srp``."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from moto import mock_aws
from moto.cognitoidp.responses import CognitoIdpJsonWebKeyResponse
from moto.utilities.utils import load_resource
from pycognito.aws_srp import AWSSRP

from local.aws.cognitoidp.identity import LOCAL_PASSWORD, SHOPPER_ADA, SHOPPER_GRACE, UserPool, provision_user_pool
from local.aws.cognitoidp.srp import N, PasswordChallenge, ProofRefusedError
from local.aws.moto import fidelity, install_time_scale

REGION = "us-east-1"


@pytest.fixture
def pool() -> Iterator[tuple[Any, UserPool]]:
    install_time_scale(1)
    with mock_aws():
        cognito = boto3.client("cognito-idp", region_name=REGION)
        yield cognito, provision_user_pool(cognito, REGION)


def srp_client(cognito: Any, pool: UserPool, email: str, password: str) -> AWSSRP:
    return AWSSRP(email, password, pool.pool_id, pool.client_id, client=cognito)


def refusal(call: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as refused:
        call()
    return refused.value.response["Error"]


def test_srp_with_the_right_password_signs_in_and_a_wrong_one_is_refused(pool):
    cognito, user_pool = pool

    tokens = srp_client(cognito, user_pool, SHOPPER_ADA.email, LOCAL_PASSWORD).authenticate_user()
    wrong = refusal(srp_client(cognito, user_pool, SHOPPER_ADA.email, "Wrong-password-1!").authenticate_user)

    assert jwt.decode(tokens["AuthenticationResult"]["IdToken"], signing_keys()).claims["email"] == SHOPPER_ADA.email
    assert wrong == {"Code": "NotAuthorizedException", "Message": "Incorrect username or password."}


def start(cognito: Any, user_pool: UserPool, client: AWSSRP) -> tuple[dict[str, str], dict[str, str]]:
    """InitiateAuth as ``client``; its parameters and its answer to the challenge (not yet sent)."""
    parameters = client.get_auth_params()
    challenge = cognito.initiate_auth(
        ClientId=user_pool.client_id, AuthFlow="USER_SRP_AUTH", AuthParameters=parameters
    )["ChallengeParameters"]
    return challenge, client.process_challenge(challenge, parameters)


def respond(cognito: Any, user_pool: UserPool, answer: dict[str, str]) -> dict[str, Any]:
    return cognito.respond_to_auth_challenge(
        ClientId=user_pool.client_id, ChallengeName="PASSWORD_VERIFIER", ChallengeResponses=answer
    )


def test_a_proof_signs_in_once_and_only_the_user_who_made_it(pool):
    cognito, user_pool = pool
    _, answer = start(cognito, user_pool, srp_client(cognito, user_pool, SHOPPER_ADA.email, LOCAL_PASSWORD))
    grace = cognito.admin_get_user(UserPoolId=user_pool.pool_id, Username=SHOPPER_GRACE.email)["Username"]

    as_grace = refusal(lambda: respond(cognito, user_pool, {**answer, "USERNAME": grace}))
    _, again = start(cognito, user_pool, srp_client(cognito, user_pool, SHOPPER_ADA.email, LOCAL_PASSWORD))
    signed_in = respond(cognito, user_pool, again)
    replayed = refusal(lambda: respond(cognito, user_pool, again))

    assert as_grace["Code"] == replayed["Code"] == "NotAuthorizedException"
    assert "IdToken" in signed_in["AuthenticationResult"]


@pytest.mark.parametrize("srp_a", ["0", format(N, "x"), format(2 * N, "x"), "not-hex"])
def test_an_srp_a_that_would_fix_the_shared_secret_is_refused(pool, srp_a):
    cognito, user_pool = pool

    refused = refusal(
        lambda: cognito.initiate_auth(
            ClientId=user_pool.client_id,
            AuthFlow="USER_SRP_AUTH",
            AuthParameters={"USERNAME": SHOPPER_ADA.email, "SRP_A": srp_a},
        )
    )

    assert refused["Code"] == "InvalidParameterException"


def test_a_challenge_refuses_a_proof_of_another_password():
    client = AWSSRP("user", "the-password", "us-east-1_pool", "client", client=object())
    challenge = PasswordChallenge.start("pool", "user-id", "the-password", client.large_a_value)
    parameters = {**challenge.parameters(), "USER_ID_FOR_SRP": "user-id", "USERNAME": "user"}
    right = client.process_challenge(parameters, {"USERNAME": "user"})
    wrong = AWSSRP("user", "another", "us-east-1_pool", "client", client=object())
    wrong.small_a_value, wrong.large_a_value = client.small_a_value, client.large_a_value

    proof = wrong.process_challenge(parameters, {"USERNAME": "user"})

    challenge.check(right["PASSWORD_CLAIM_SIGNATURE"], right["TIMESTAMP"])
    with pytest.raises(ProofRefusedError):
        challenge.check(proof["PASSWORD_CLAIM_SIGNATURE"], proof["TIMESTAMP"])
    with pytest.raises(ProofRefusedError):
        challenge.check(right["PASSWORD_CLAIM_SIGNATURE"], "Mon Jan 1 00:00:00 UTC 2024")


def signing_keys() -> KeySet:
    """The pool's public keys, as its JWKS endpoint serves them to the local API Gateway authorizer."""
    _, _, body = CognitoIdpJsonWebKeyResponse.serve_json_web_key()
    return KeySet.import_key_set(json.loads(body))


def test_tokens_are_signed_with_a_key_of_this_process_and_the_jwks_serves_it(pool):
    cognito, user_pool = pool
    shipped = RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
    token = cognito.initiate_auth(
        ClientId=user_pool.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": SHOPPER_ADA.email, "PASSWORD": LOCAL_PASSWORD},
    )["AuthenticationResult"]["IdToken"]
    claims = jwt.decode(token, signing_keys()).claims
    minted = jwt.encode({"alg": "RS256", "kid": fidelity.SIGNING_KEY_ID}, claims, shipped)

    assert shipped.thumbprint() not in {key.thumbprint() for key in signing_keys().keys}
    with pytest.raises(JoseError):
        jwt.decode(minted, signing_keys())


def test_moto_still_signs_pool_tokens_and_answers_srp_where_the_adapters_replace_it():
    """Read from moto's source: if a release moves the key, the kid or the SRP challenge, this fails loudly."""
    from moto.cognitoidp import models

    pool_source = inspect.getsource(models.CognitoIdpUserPool)
    backend_source = inspect.getsource(models.CognitoIdpBackend)
    install_time_scale(1)

    assert "self.json_web_key = jwk.RSAKey.import_key(jwks_file)" in pool_source
    assert f'headers = {{"kid": "{fidelity.SIGNING_KEY_ID}", "alg": "RS256"}}' in pool_source
    assert "jwt.encode(headers, payload, self.json_web_key)" in pool_source
    assert "CognitoIdpJsonWebKeyResponse.json_web_key," in inspect.getsource(CognitoIdpJsonWebKeyResponse)
    assert "self.sessions[session] = (username, user_pool)" in backend_source
    assert 'session = challenge_responses.get("PASSWORD_CLAIM_SECRET_BLOCK")' in backend_source
    for method in ("initiate_auth", "respond_to_auth_challenge"):
        assert f"def {method}(" in backend_source
    assert models.CognitoIdpBackend.initiate_auth is fidelity._initiate_auth_with_a_real_srp_challenge
    assert models.CognitoIdpBackend.respond_to_auth_challenge is fidelity._respond_with_a_checked_password_proof
    assert models.CognitoIdpUserPool.__init__ is fidelity._create_user_pool_with_the_local_key
